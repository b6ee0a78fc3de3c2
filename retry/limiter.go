package retry

import (
	"context"
	"sync"
	"time"
)

// Limiter keeps the capacity units (read or write) that goroutines consume at Rate per
// second on average, with at most Burst units banked while idle. It is a balance that
// accrues Rate per second up to Burst:
//
//   - a read's cost is known only after DynamoDB answered, so a reader calls Wait (until
//     the balance is not negative), reads, then Spend with what the read cost: a large
//     page runs the balance into debt, which the next Wait pays;
//   - a write's cost is known before, so a writer calls Take, which books it and waits
//     its turn: concurrent writers are spaced out at the rate.
//
// A nil Limiter, or one whose Rate is not above zero, never waits. Now and Sleep are the
// clock and the wait (defaults time.Now and Sleep); tests inject them. Safe for
// concurrent use; do not copy it after first use.
type Limiter struct {
	Rate  float64
	Burst float64
	Now   func() time.Time
	Sleep func(ctx context.Context, d time.Duration) error

	mu      sync.Mutex
	started bool
	balance float64
	last    time.Time
}

// NewLimiter returns a limiter of rate units per second with burst units banked; rate 0
// gives nil, which never waits.
func NewLimiter(rate, burst float64) *Limiter {
	if rate <= 0 {
		return nil
	}
	return &Limiter{Rate: rate, Burst: burst}
}

func (l *Limiter) off() bool { return l == nil || l.Rate <= 0 }

// refill adds what accrued since the last call, up to Burst. l.mu is held.
func (l *Limiter) refill() {
	now := time.Now()
	if l.Now != nil {
		now = l.Now()
	}
	if !l.started {
		l.started, l.balance = true, l.Burst
	} else {
		l.balance = min(l.balance+now.Sub(l.last).Seconds()*l.Rate, l.Burst)
	}
	l.last = now
}

func (l *Limiter) sleep(ctx context.Context, d time.Duration) error {
	if l.Sleep != nil {
		return l.Sleep(ctx, d)
	}
	return Sleep(ctx, d)
}

// Wait blocks until the balance is not negative: the reads before were paid for. It
// returns ctx.Err() when ctx ends, and then also when it did not have to wait.
func (l *Limiter) Wait(ctx context.Context) error {
	if l.off() {
		return ctx.Err()
	}
	for {
		l.mu.Lock()
		l.refill()
		if l.balance >= 0 {
			l.mu.Unlock()
			return ctx.Err()
		}
		d := time.Duration(-l.balance / l.Rate * float64(time.Second))
		l.mu.Unlock()
		if err := l.sleep(ctx, d); err != nil {
			return err
		}
	}
}

// Spend takes units off the balance: what a read cost.
func (l *Limiter) Spend(units float64) {
	if l.off() {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.refill()
	l.balance -= units
}

// Reserve books units and returns how long to wait before using them: until the balance
// before the booking is paid.
func (l *Limiter) Reserve(units float64) time.Duration {
	if l.off() {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.refill()
	wait := time.Duration(max(0, -l.balance) / l.Rate * float64(time.Second))
	l.balance -= units
	return wait
}

// Take books units and waits its turn (Reserve, then the wait); it returns ctx.Err() if
// ctx ends first.
func (l *Limiter) Take(ctx context.Context, units float64) error {
	if l.off() {
		return nil
	}
	return l.sleep(ctx, l.Reserve(units))
}
