package progress

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// clock is a hand-driven time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newTestMeter(w *bytes.Buffer, total int64, terminal bool) (*Meter, *clock) {
	c := &clock{t: time.Date(2026, 11, 21, 19, 4, 12, 0, time.UTC)}
	return newMeter(w, "snapshot orders", "items", total, terminal, 0, c.now), c
}

func TestLine_ShowsPercentRateAndETAFromTheEstimate(t *testing.T) {
	tests := []struct {
		name    string
		total   int64
		items   int64
		bytes   int64
		elapsed time.Duration
		want    string
	}{
		{"halfway", 20000, 10000, 3 << 20, 10 * time.Second,
			"snapshot orders: 10,000/~20,000 items (50%), 3.0 MiB, 1,000 items/s, ETA 10s"},
		{"minutes left", 1_000_000, 1000, 512, 10 * time.Second,
			"snapshot orders: 1,000/~1,000,000 items (0%), 512 B, 100 items/s, ETA 2h46m"},
		{"unknown total has no ETA", 0, 500, 2048, 5 * time.Second,
			"snapshot orders: 500 items, 2.0 KiB, 100 items/s"},
		{"estimate exceeded drops percent and ETA", 100, 150, 1536, 3 * time.Second,
			"snapshot orders: 150 items, 1.5 KiB, 50 items/s"},
		{"nothing yet has no ETA", 100, 0, 0, 0,
			"snapshot orders: 0/~100 items (0%), 0 items/s"}, // no byte counted: no "0 B",
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			m, c := newTestMeter(&buf, tt.total, false)
			m.Add(tt.items, tt.bytes)
			c.advance(tt.elapsed)
			if got := m.Line(); got != tt.want {
				t.Errorf("Line() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestPreset_CountsInTotalsButNotInRate(t *testing.T) {
	var buf bytes.Buffer
	m, c := newTestMeter(&buf, 1000, false)
	m.Preset(600, 6000) // a resumed run found 600 items already done
	m.Add(200, 2000)
	c.advance(10 * time.Second)
	// Rate is this run's 200 items over 10s = 20/s; 200 left -> 10s.
	want := "snapshot orders: 800/~1,000 items (80%), 7.8 KiB, 20 items/s, ETA 10s"
	if got := m.Line(); got != want {
		t.Errorf("Line() = %q, want %q", got, want)
	}
}

func TestDone_WritesOneSummaryLine(t *testing.T) {
	for _, terminal := range []bool{false, true} {
		var buf bytes.Buffer
		m, c := newTestMeter(&buf, 100, terminal)
		m.Add(100, 5<<20)
		c.advance(4 * time.Second)
		m.Done()
		m.Done() // second call does nothing
		want := "snapshot orders: done, 100 items, 5.0 MiB in 4s (25 items/s)\n"
		if terminal {
			want = "\r" + strings.TrimSuffix(want, "\n") + "\x1b[K\n"
		}
		if got := buf.String(); got != want {
			t.Errorf("terminal=%v: output %q, want %q", terminal, got, want)
		}
	}
}

func TestReport_RewritesTheLineOnATerminalAndLogsLinesOtherwise(t *testing.T) {
	var term, log bytes.Buffer
	mt, _ := newTestMeter(&term, 0, true)
	ml, _ := newTestMeter(&log, 0, false)
	for _, m := range []*Meter{mt, ml} {
		m.Add(1, 1)
		m.report()
		m.Add(1, 1)
		m.report()
	}
	if got := term.String(); strings.Contains(got, "\n") || strings.Count(got, "\r") != 2 || !strings.HasSuffix(got, "\x1b[K") {
		t.Errorf("terminal output %q: want two \\r-led lines and no newline", got)
	}
	if got := log.String(); strings.Count(got, "\n") != 2 || strings.Contains(got, "\r") || strings.Contains(got, "\x1b") {
		t.Errorf("log output %q: want two plain lines", got)
	}
}

func TestNew_ReportsEveryIntervalUntilDone(t *testing.T) {
	w := &syncBuffer{}
	m := New(w, "restore t", 0, false, time.Millisecond)
	m.Add(3, 3)
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(w.String(), "restore t: 3 items") {
		if time.Now().After(deadline) {
			t.Fatalf("no periodic line within 10s; output %q", w.String())
		}
		time.Sleep(time.Millisecond)
	}
	m.Done()
	out := w.String()
	if !strings.HasSuffix(out, "\n") || !strings.Contains(out[strings.LastIndex(strings.TrimSuffix(out, "\n"), "\n")+1:], "done") {
		t.Errorf("last line is not the summary: %q", out)
	}
	after := w.String()
	time.Sleep(5 * time.Millisecond)
	if w.String() != after {
		t.Error("meter kept writing after Done")
	}
}

func TestIsTerminal_FalseForFilesAndPipes(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "log"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	if IsTerminal(f) || IsTerminal(w) {
		t.Error("IsTerminal is true for a regular file or a pipe")
	}
	if dev, err := os.OpenFile("/dev/null", os.O_WRONLY, 0); err == nil {
		defer dev.Close()
		// /dev/null is a character device: the ModeCharDevice check says so.
		if !IsTerminal(dev) {
			t.Error("IsTerminal(/dev/null) is false; want true for a character device")
		}
	}
}

func TestFormatters(t *testing.T) {
	bytesCases := []struct {
		n    int64
		want string
	}{
		{0, "0 B"}, {1023, "1023 B"}, {1024, "1.0 KiB"}, {1536, "1.5 KiB"},
		{5 << 20, "5.0 MiB"}, {3 << 30, "3.0 GiB"}, {2 << 40, "2.0 TiB"},
	}
	for _, c := range bytesCases {
		if got := Bytes(c.n); got != c.want {
			t.Errorf("Bytes(%d) = %q, want %q", c.n, got, c.want)
		}
	}
	durCases := []struct {
		d    time.Duration
		want string
	}{
		{0, "<1s"}, {999 * time.Millisecond, "<1s"}, {42 * time.Second, "42s"},
		{185 * time.Second, "3m05s"}, {2*time.Hour + 4*time.Minute + 59*time.Second, "2h04m"},
	}
	for _, c := range durCases {
		if got := Duration(c.d); got != c.want {
			t.Errorf("Duration(%v) = %q, want %q", c.d, got, c.want)
		}
	}
	numCases := []struct {
		n    int64
		want string
	}{{0, "0"}, {999, "999"}, {1000, "1,000"}, {1234567, "1,234,567"}, {-1234, "-1,234"}}
	for _, c := range numCases {
		if got := thousands(c.n); got != c.want {
			t.Errorf("thousands(%d) = %q, want %q", c.n, got, c.want)
		}
	}
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestNewUnit_CountsWhatItSays(t *testing.T) {
	var buf bytes.Buffer
	m := NewUnit(&buf, "read backup", "rows", 10, false, 0)
	m.Add(12, 0)
	m.Done()
	if got := buf.String(); !strings.HasPrefix(got, "read backup: done, 12 rows in ") || strings.Contains(got, "items") || strings.Contains(got, " B") {
		t.Errorf("summary %q, want rows counted and no byte size", got)
	}
}

func TestStopped_SaysTheWorkDidNotFinish(t *testing.T) {
	var buf bytes.Buffer
	m, _ := newTestMeter(&buf, 100, false)
	m.Add(40, 0)
	m.Stopped()
	m.Done() // after Stopped: nothing more
	if got := buf.String(); !strings.HasPrefix(got, "snapshot orders: stopped at 40 items in ") || strings.Count(got, "\n") != 1 {
		t.Errorf("closing line %q, want one line saying where it stopped", got)
	}
}

func TestCount_GroupsDigitsAndAgreesInNumber(t *testing.T) {
	for _, tc := range []struct {
		n    int64
		want string
	}{{0, "0 items"}, {1, "1 item"}, {2, "2 items"}, {12400, "12,400 items"}, {1234567, "1,234,567 items"}} {
		if got := Count(tc.n, "item"); got != tc.want {
			t.Errorf("Count(%d) = %q, want %q", tc.n, got, tc.want)
		}
	}
}
