package retry

import (
	"log/slog"
	"sync"
	"time"
)

// DefaultLogEvery is how often a Log reports retries at most, after the first.
const DefaultLogEvery = 30 * time.Second

// Log is how Do reports on Logger: a warning for the first failure retried, then at most
// one per Every (with how many it kept quiet about: a throttling storm must not flood the
// log), an info line when an attempt succeeds after retries, and an error line when Do
// gives up. A message left empty is not logged. One Log may serve several Do calls (every
// call of one shard's reader, say), so that the limit holds across them; it is safe for
// concurrent use.
type Log struct {
	Logger    *slog.Logger
	Retrying  string
	Recovered string
	GaveUp    string
	// Every is the rate limit of Retrying lines (default DefaultLogEvery).
	Every time.Duration

	mu    sync.Mutex
	last  time.Time // when a Retrying line was last logged, by the policy's clock
	quiet int       // retries not logged since then
}

func (l *Log) retrying(now time.Time, what, reason string, attempt int, wait, givesUpAfter time.Duration, boundName string, err error) {
	if l == nil || l.Logger == nil || l.Retrying == "" {
		return
	}
	every := l.Every
	if every <= 0 {
		every = DefaultLogEvery
	}
	l.mu.Lock()
	if !l.last.IsZero() && now.Sub(l.last) < every {
		l.quiet++
		l.mu.Unlock()
		return
	}
	quiet := l.quiet
	l.last, l.quiet = now, 0
	l.mu.Unlock()
	attrs := []any{"what", what, "attempt", attempt, "wait", wait.Round(time.Millisecond)}
	if reason != "" {
		attrs = append(attrs, "reason", reason)
	}
	if quiet > 0 {
		attrs = append(attrs, "retries_not_logged", quiet)
	}
	if givesUpAfter > 0 {
		attrs = append(attrs, "gives_up_after", givesUpAfter)
		if boundName != "" {
			attrs = append(attrs, "bounded_by", boundName)
		}
	}
	l.Logger.Warn(l.Retrying, append(attrs, "error", err)...)
}

func (l *Log) recovered(what string, attempts int) {
	if l == nil || l.Logger == nil || l.Recovered == "" || attempts < 2 {
		return
	}
	l.Logger.Info(l.Recovered, "what", what, "attempts", attempts)
}

func (l *Log) gaveUp(what, reason string, attempts int, elapsed time.Duration, err error) {
	if l == nil || l.Logger == nil || l.GaveUp == "" {
		return
	}
	attrs := []any{"what", what, "attempts", attempts, "elapsed", elapsed.Round(time.Millisecond)}
	if reason != "" {
		attrs = append(attrs, "reason", reason)
	}
	l.Logger.Error(l.GaveUp, append(attrs, "error", err)...)
}
