package snapshot

import (
	"context"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v4"
)

// DefaultRetryBound is how long one Scan page is retried (throttling, 5xx, broken
// connections) before the snapshot stops, incomplete and resumable.
const DefaultRetryBound = 2 * time.Minute

// Backoff between attempts at one page: doubling from 100 ms to at most 5 s, ±50 % jitter so
// the workers of a throttled table do not retry in lockstep.
const (
	retryInitial = 100 * time.Millisecond
	retryMax     = 5 * time.Second
)

// newBackOff is the retry schedule for one page, bounded by bound in total.
func newBackOff(bound time.Duration) backoff.BackOff {
	b := backoff.NewExponentialBackOff()
	b.InitialInterval = retryInitial
	b.MaxInterval = retryMax
	b.RandomizationFactor = 0.5
	b.Multiplier = 2
	b.MaxElapsedTime = bound
	b.Reset()
	return b
}

// limiter keeps the snapshot's reads under a number of read capacity units per second,
// shared by all workers. DynamoDB says what a page cost only after it answered, so each
// worker waits until the balance is not negative, then pays the page's real cost: a large
// page can run the balance into debt, which the next pages wait out. The average holds.
type limiter struct {
	rate  float64 // units per second; 0 means no limit
	now   func() time.Time
	sleep func(ctx context.Context, d time.Duration) error

	mu      sync.Mutex
	balance float64
	last    time.Time
}

func newLimiter(rate float64) *limiter {
	return &limiter{rate: rate, now: time.Now, sleep: sleepCtx}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// refill adds what accrued since the last call, up to one second's worth (the burst).
func (l *limiter) refill() {
	now := l.now()
	if !l.last.IsZero() {
		l.balance += now.Sub(l.last).Seconds() * l.rate
		if l.balance > l.rate {
			l.balance = l.rate
		}
	} else {
		l.balance = l.rate
	}
	l.last = now
}

// wait blocks until a page may be read.
func (l *limiter) wait(ctx context.Context) error {
	if l.rate <= 0 {
		return ctx.Err()
	}
	for {
		l.mu.Lock()
		l.refill()
		if l.balance >= 0 {
			l.mu.Unlock()
			return ctx.Err()
		}
		d := time.Duration(-l.balance / l.rate * float64(time.Second))
		l.mu.Unlock()
		if err := l.sleep(ctx, d); err != nil {
			return err
		}
	}
}

// spend records what a page cost.
func (l *limiter) spend(units float64) {
	if l.rate <= 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.refill()
	l.balance -= units
}
