// Package progress tells an operator how far a long command (snapshot, restore, verify)
// has got: on a terminal a live line rewritten in place, otherwise (a log file, a CI job)
// one plain line every interval, and in both cases a summary line when the work is done.
//
// Typical use:
//
//	m := progress.New(os.Stderr, "snapshot orders", estimate, progress.IsTerminal(os.Stderr), 5*time.Second)
//	defer m.Done()
//	... m.Add(items, bytes) from any goroutine ...
//
// total is an estimate (DynamoDB's ItemCount is refreshed about every six hours), so the
// percentage and ETA are shown only while the count is below it; 0 means unknown.
package progress

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Meter counts items and bytes and reports them. Add is safe from many goroutines.
type Meter struct {
	w        io.Writer
	label    string
	unit     string // what is counted: "items" unless NewUnit says otherwise
	total    int64
	terminal bool
	now      func() time.Time
	start    time.Time

	items   atomic.Int64
	bytes   atomic.Int64
	preset  atomic.Int64 // items done before this run: in totals and ETA, not in the rate
	mu      sync.Mutex   // serialises writes to w
	stop    chan struct{}
	stopped chan struct{}
	once    sync.Once
}

// New starts a meter that reports every interval (an interval <= 0 reports only at Done).
// Its reporting goroutine ends at Done, which the caller must call.
func New(w io.Writer, label string, total int64, isTerminal bool, interval time.Duration) *Meter {
	return newMeter(w, label, "items", total, isTerminal, interval, time.Now)
}

// NewUnit is New counting unit ("rows", "keys") instead of items.
func NewUnit(w io.Writer, label, unit string, total int64, isTerminal bool, interval time.Duration) *Meter {
	return newMeter(w, label, unit, total, isTerminal, interval, time.Now)
}

func newMeter(w io.Writer, label, unit string, total int64, isTerminal bool, interval time.Duration, now func() time.Time) *Meter {
	m := &Meter{
		w: w, label: label, unit: unit, total: total, terminal: isTerminal, now: now, start: now(),
		stop: make(chan struct{}), stopped: make(chan struct{}),
	}
	if interval <= 0 {
		close(m.stopped)
		return m
	}
	go m.loop(interval)
	return m
}

func (m *Meter) loop(interval time.Duration) {
	defer close(m.stopped)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-t.C:
			m.report()
		}
	}
}

// Add counts items and bytes just finished.
func (m *Meter) Add(items, bytes int64) {
	m.items.Add(items)
	m.bytes.Add(bytes)
}

// Preset counts work finished before this run (a resumed command): it shows in the totals
// and shortens the ETA, but is left out of the rate, which measures this run only.
func (m *Meter) Preset(items, bytes int64) {
	m.preset.Add(items)
	m.Add(items, bytes)
}

// Done stops the periodic report and writes the summary line. Calls after the first (and
// after Stopped) do nothing.
func (m *Meter) Done() { m.end("done,") }

// Stopped is Done for work that did not finish (interrupted, or failed): the closing line
// says "stopped at" instead of "done".
func (m *Meter) Stopped() { m.end("stopped at") }

func (m *Meter) end(how string) {
	m.once.Do(func() {
		close(m.stop)
		<-m.stopped
		m.write(m.summary(how))
	})
}

// Line is the current status line, without terminal control characters. Bytes are
// shown once some were counted (a comparison counts none).
func (m *Meter) Line() string {
	items, bytes := m.items.Load(), m.bytes.Load()
	rate := m.rate(items)
	s := m.label + ": " + thousands(items)
	if m.total > 0 && items < m.total {
		s += fmt.Sprintf("/~%s %s (%d%%)", thousands(m.total), m.unit, items*100/m.total)
	} else {
		s += " " + m.unit
	}
	if bytes > 0 {
		s += ", " + Bytes(bytes)
	}
	s += ", " + thousands(int64(rate+0.5)) + " " + m.unit + "/s"
	if m.total > 0 && items < m.total && rate > 0 {
		s += ", ETA " + Duration(time.Duration(float64(m.total-items)/rate*float64(time.Second)))
	}
	return s
}

// Summary is the closing line: totals, elapsed time and the average rate of this run.
func (m *Meter) Summary() string { return m.summary("done,") }

func (m *Meter) summary(how string) string {
	items, bytes := m.items.Load(), m.bytes.Load()
	size := ""
	if bytes > 0 {
		size = ", " + Bytes(bytes)
	}
	return fmt.Sprintf("%s: %s %s %s%s in %s (%s %s/s)", m.label, how, thousands(items), m.unit, size,
		Duration(m.now().Sub(m.start)), thousands(int64(m.rate(items)+0.5)), m.unit)
}

func (m *Meter) rate(items int64) float64 {
	elapsed := m.now().Sub(m.start).Seconds()
	if elapsed <= 0 {
		return 0
	}
	return float64(items-m.preset.Load()) / elapsed
}

func (m *Meter) report() {
	if m.terminal {
		// \r returns to the line start, ESC[K clears what a longer previous line left.
		m.writeRaw("\r" + m.Line() + "\x1b[K")
		return
	}
	m.writeRaw(m.Line() + "\n")
}

func (m *Meter) write(line string) {
	if m.terminal {
		m.writeRaw("\r" + line + "\x1b[K\n")
		return
	}
	m.writeRaw(line + "\n")
}

func (m *Meter) writeRaw(s string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	// A progress line that cannot be written is not worth failing the work for.
	_, _ = io.WriteString(m.w, s)
}

// IsTerminal tells whether f is a character device (a terminal), without a dependency on a
// terminal library: redirected output (file, pipe) gets plain log lines instead of a live one.
func IsTerminal(f *os.File) bool {
	fi, err := f.Stat()
	if err != nil {
		return false
	}
	return fi.Mode()&os.ModeCharDevice != 0
}

// Bytes formats n in binary units with one decimal: "512 B", "1.5 KiB", "73.1 MiB".
func Bytes(n int64) string {
	const unit = 1024
	if n < unit {
		return strconv.FormatInt(n, 10) + " B"
	}
	div, exp := int64(unit), 0
	for v := n / unit; v >= unit && exp < 4; v /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTP"[exp])
}

// Duration formats d for people, to the second: "<1s", "42s", "3m05s", "2h04m".
func Duration(d time.Duration) string {
	switch {
	case d < time.Second:
		return "<1s"
	case d < time.Minute:
		return strconv.Itoa(int(d/time.Second)) + "s"
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d/time.Minute), int(d%time.Minute/time.Second))
	default:
		return fmt.Sprintf("%dh%02dm", int(d/time.Hour), int(d%time.Hour/time.Minute))
	}
}

// thousands formats n with comma separators: 1234567 -> "1,234,567".
// Count is n with its digits grouped and noun in the singular or the plural (regular
// English: noun+"s"): "1 item", "12,400 items".
func Count[N ~int | ~int64](n N, noun string) string {
	if n != 1 {
		noun += "s"
	}
	return thousands(int64(n)) + " " + noun
}

// Number is n with its digits grouped: "12,400".
func Number[N ~int | ~int64](n N) string { return thousands(int64(n)) }

func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := n < 0
	if neg {
		s = s[1:]
	}
	out := make([]byte, 0, len(s)+len(s)/3+1)
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	if neg {
		return "-" + string(out)
	}
	return string(out)
}
