// Package retry is where ddbtape decides whether a failed call deserves another attempt
// and makes the attempts. Reason, Retryable and Throttled classify errors of AWS calls
// (DynamoDB, DynamoDB Streams, S3) with errors.As and error codes, never by message text,
// so a truncated answer or a reset connection is treated the same in capture, snapshot
// and restore. Do is the one retry loop: exponential backoff with jitter, a bound, logs
// that a throttling storm cannot flood, and ErrGaveUp when the bound is spent. Limiter
// keeps read or write capacity under a rate.
//
// A retry never drops data when it gives up: Do returns an error naming what it was
// doing, and the caller stops and says so.
package retry

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cenkalti/backoff/v4"
)

// ErrGaveUp means a call kept failing with retryable errors (throttling, 5xx, broken
// connections, a full disk) for longer than its retry bound. The error wrapping it names
// the call, how long it was tried, the last cause, and what to do.
var ErrGaveUp = errors.New("gave up retrying")

// Policy is how Do retries. Its zero value retries Retryable errors with the defaults
// below, without a bound.
type Policy struct {
	// What names the work in logs and in the error when Do gives up ("get records
	// shardId-1", "segment").
	What string
	// Initial is the first wait (default 100 ms); each wait grows by Multiplier (default
	// 1.5) up to Max (default 10 s), and is spread by ±50 % so that workers throttled
	// together do not retry in step. Max also caps the spread.
	Initial    time.Duration
	Max        time.Duration
	Multiplier float64
	// Bound is how long attempts may keep failing, from the first, before Do gives up
	// with ErrGaveUp (0: no bound). Attempts, when above zero, bounds their number too.
	Bound    time.Duration
	Attempts int
	// FirstContact, when above zero, bounds the attempts of a call that never reached its
	// endpoint (every failure Unreachable: refused, unknown host, ...): Do then gives up
	// after FirstContact (or Bound, if shorter) with an *UnreachableError. Set it on the
	// first call a command makes to a service.
	FirstContact time.Duration
	// BoundName names the setting of Bound in the retry log ("--retry-bound").
	BoundName string
	// Retryable says whether an error may pass on another attempt, and why (for logs and
	// the give-up error; "" says nothing). Nil: Reason, the classifier of AWS calls.
	Retryable func(error) (reason string, ok bool)
	// Hint is what the operator can do, said in the error when Do gives up.
	Hint string
	// OnRetry, when set, hears every failure about to be retried, before its wait: for
	// metrics. It must not block.
	OnRetry func(err error, wait time.Duration)
	// Log reports the retries; nil: they are not logged.
	Log *Log
	// Sleep waits between attempts (default Sleep); Now is the clock of Bound and of the
	// log's rate limit (default time.Now). Tests inject both, so they never sleep.
	Sleep func(ctx context.Context, d time.Duration) error
	Now   func() time.Time
}

// Do calls op until it returns nil, an error that p does not retry (returned unchanged),
// ctx ends while op fails (ctx.Err() is returned), or p's bound is spent: an error then
// wraps ErrGaveUp and op's last error.
//
// op is given ctx and is always called at least once, even when ctx has ended: a caller
// whose write must happen during a stop runs it under a context of its own. A stop ends
// the waits between attempts and starts no new one.
//
// An attempt that did part of its work returns Progress(err): the bound and the backoff
// start over, as the bound counts time without progress.
func Do(ctx context.Context, p Policy, op func(ctx context.Context) error) error {
	p.defaults()
	b := &backoff.ExponentialBackOff{
		InitialInterval:     p.Initial,
		RandomizationFactor: backoff.DefaultRandomizationFactor,
		Multiplier:          p.Multiplier,
		MaxInterval:         p.Max,
		MaxElapsedTime:      p.Bound,
		Stop:                backoff.Stop,
		Clock:               clock(p.Now),
	}
	b.Reset()
	reached := p.FirstContact <= 0 // whether an attempt got past connecting
	for attempt := 1; ; attempt++ {
		err := op(ctx)
		if err == nil {
			p.Log.recovered(p.What, attempt)
			return nil
		}
		var prog *progressError
		if errors.As(err, &prog) {
			b.Reset()
			attempt, err = 1, prog.err
		}
		reason, ok := p.Retryable(err)
		if !ok {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		wait := b.NextBackOff()
		end, unreached := Unreachable(err)
		if !unreached {
			reached = true
		}
		if !reached && (wait == backoff.Stop || (p.Attempts > 0 && attempt >= p.Attempts) || b.GetElapsedTime()+wait > p.FirstContact) {
			elapsed := b.GetElapsedTime()
			p.Log.gaveUp(p.What, "unreachable", attempt, elapsed, err)
			return &UnreachableError{Endpoint: end, What: p.What, Attempts: attempt, Elapsed: elapsed, Err: err}
		}
		if wait == backoff.Stop || (p.Attempts > 0 && attempt >= p.Attempts) {
			elapsed := b.GetElapsedTime()
			p.Log.gaveUp(p.What, reason, attempt, elapsed, err)
			return p.gaveUp(reason, attempt, elapsed, err)
		}
		wait = min(wait, p.Max) // the jitter must not stretch past the cap
		if p.OnRetry != nil {
			p.OnRetry(err, wait)
		}
		p.Log.retrying(p.Now(), p.What, reason, attempt, wait, p.givesUpAfter(reached), p.boundName(reached), err)
		if err := p.Sleep(ctx, wait); err != nil {
			return err
		}
	}
}

// givesUpAfter is how long failing attempts go on, for the log: the bound, or the first
// contact's while the endpoint was never reached (0: no bound).
func (p *Policy) givesUpAfter(reached bool) time.Duration {
	if !reached && (p.Bound <= 0 || p.FirstContact < p.Bound) {
		return p.FirstContact
	}
	return p.Bound
}

// boundName is BoundName when Bound is what ends the retries.
func (p *Policy) boundName(reached bool) string {
	if p.givesUpAfter(reached) == p.Bound {
		return p.BoundName
	}
	return ""
}

func (p *Policy) defaults() {
	if p.Initial <= 0 {
		p.Initial = 100 * time.Millisecond
	}
	if p.Max <= 0 {
		p.Max = 10 * time.Second
	}
	if p.Multiplier <= 0 {
		p.Multiplier = backoff.DefaultMultiplier
	}
	if p.Retryable == nil {
		p.Retryable = Reason
	}
	if p.Sleep == nil {
		p.Sleep = Sleep
	}
	if p.Now == nil {
		p.Now = time.Now
	}
}

// gaveUp is the error of a retry that gave up: "gave up retrying: WHAT kept failing for 2m0s
// (41 attempts, last throttled (ThrottlingException)); HINT: CAUSE".
func (p *Policy) gaveUp(reason string, attempts int, elapsed time.Duration, err error) error {
	what := p.What
	if what == "" {
		what = "the call"
	}
	detail := fmt.Sprintf("%d attempts", attempts)
	if reason != "" {
		detail += ", last " + reason
	}
	hint := ""
	if p.Hint != "" {
		hint = "; " + p.Hint
	}
	return fmt.Errorf("%w: %s kept failing for %s (%s)%s: %w", ErrGaveUp, what, elapsed.Round(time.Millisecond), detail, hint, err)
}

// Progress marks the failure of an attempt that got part of its work done (some items of
// a batch written, say): Do retries it as it would err, with the bound and the backoff
// started over.
func Progress(err error) error { return &progressError{err: err} }

type progressError struct{ err error }

func (e *progressError) Error() string { return e.err.Error() }
func (e *progressError) Unwrap() error { return e.err }

// Sleep waits d or until ctx ends, and then returns ctx.Err(); nil when d passed.
func Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

type clock func() time.Time

func (c clock) Now() time.Time { return c() }
