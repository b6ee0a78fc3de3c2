package retry

import (
	"context"
	"errors"
	"testing"
	"time"
)

// fakeClock drives a limiter: sleeping advances it.
type fakeClock struct {
	now    time.Time
	slept  time.Duration
	sleeps int
}

func (c *fakeClock) limiter(rate, burst float64) *Limiter {
	return &Limiter{Rate: rate, Burst: burst, Now: func() time.Time { return c.now }, Sleep: func(_ context.Context, d time.Duration) error {
		c.now = c.now.Add(d)
		c.slept += d
		c.sleeps++
		return nil
	}}
}

func TestLimiter_WaitAndSpendHoldTheAverageToTheRate(t *testing.T) {
	c := &fakeClock{now: time.Unix(1_800_000_000, 0)}
	l := c.limiter(10, 10)
	// 20 pages of 5 units at 10 units/s: a 10-unit burst, then a wait for each later page
	// but the one the burst left at 0; the last page's cost is debt nobody waited for yet.
	for range 20 {
		if err := l.Wait(t.Context()); err != nil {
			t.Fatal(err)
		}
		l.Spend(5)
	}
	if want := 8500 * time.Millisecond; c.slept < want-time.Millisecond || c.slept > want+time.Millisecond {
		t.Errorf("slept %v for 100 units at 10/s with a 10-unit burst; want %v", c.slept, want)
	}
}

func TestLimiter_LargePageRunsIntoDebtThatTheNextWaitPays(t *testing.T) {
	c := &fakeClock{now: time.Unix(1_800_000_000, 0)}
	l := c.limiter(4, 4)
	_ = l.Wait(t.Context())
	l.Spend(128) // a 1 MB page: 124 units of debt after the 4-unit burst
	_ = l.Wait(t.Context())
	if want := 31 * time.Second; c.slept < want-time.Millisecond || c.slept > want+time.Millisecond {
		t.Errorf("slept %v, want %v", c.slept, want)
	}
}

func TestLimiter_ZeroRateNeverWaits(t *testing.T) {
	c := &fakeClock{now: time.Unix(1_800_000_000, 0)}
	for _, l := range []*Limiter{c.limiter(0, 0), NewLimiter(0, 10), nil} {
		for range 100 {
			_ = l.Wait(t.Context())
			l.Spend(1000)
			if w := l.Reserve(1000); w != 0 {
				t.Fatalf("unlimited limiter reserved a wait of %s", w)
			}
			if err := l.Take(t.Context(), 1000); err != nil {
				t.Fatal(err)
			}
		}
	}
	if c.sleeps != 0 {
		t.Errorf("unlimited limiter slept %d times", c.sleeps)
	}
}

func TestLimiter_WaitEndsWithTheContext(t *testing.T) {
	l := NewLimiter(1, 1)
	l.Spend(1000)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := l.Wait(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Wait = %v, want context.Canceled", err)
	}
	if err := l.Take(ctx, 1); !errors.Is(err, context.Canceled) {
		t.Errorf("Take = %v, want context.Canceled", err)
	}
}

func TestLimiter_ReserveSpacesBookingsAtTheRate(t *testing.T) {
	now := time.Unix(0, 0)
	l := &Limiter{Rate: 100, Now: func() time.Time { return now }}
	var waits []time.Duration
	for range 4 {
		waits = append(waits, l.Reserve(50)) // half a second each at 100 WCU/s
	}
	want := []time.Duration{0, 500 * time.Millisecond, time.Second, 1500 * time.Millisecond}
	for i := range want {
		if waits[i] != want[i] {
			t.Errorf("waits %v, want %v", waits, want)
			break
		}
	}
	now = now.Add(10 * time.Second) // idle time does not bank a burst
	if w := l.Reserve(50); w != 0 {
		t.Errorf("after idling: wait %s", w)
	}
	if w := l.Reserve(50); w != 500*time.Millisecond {
		t.Errorf("second after idling: wait %s", w)
	}
}
