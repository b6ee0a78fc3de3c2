package retry

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/smithy-go"
)

var (
	throttle = &smithy.GenericAPIError{Code: "ThrottlingException", Message: "rate exceeded"}
	mistake  = &smithy.GenericAPIError{Code: "ValidationException", Message: "bad request"}
)

// fakeTime is a clock that only sleeping moves.
type fakeTime struct {
	mu    sync.Mutex
	now   time.Time
	waits []time.Duration
}

func newFakeTime() *fakeTime { return &fakeTime{now: time.Unix(1_800_000_000, 0)} }

func (f *fakeTime) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *fakeTime) Sleep(ctx context.Context, d time.Duration) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = f.now.Add(d)
	f.waits = append(f.waits, d)
	return ctx.Err()
}

func (f *fakeTime) policy(p Policy) Policy {
	p.Now, p.Sleep = f.Now, f.Sleep
	return p
}

// failing fails its first n calls with err, then succeeds.
func failing(n int, err error, calls *int) func(context.Context) error {
	return func(context.Context) error {
		*calls++
		if *calls <= n {
			return err
		}
		return nil
	}
}

func TestDo_RetriesTransientErrorsUntilTheCallSucceeds(t *testing.T) {
	f := newFakeTime()
	var calls, retries int
	p := f.policy(Policy{What: "scan", Initial: time.Second, Max: 4 * time.Second, Bound: time.Hour,
		OnRetry: func(err error, _ time.Duration) {
			if Throttled(err) {
				retries++
			}
		}})
	if err := Do(t.Context(), p, failing(6, throttle, &calls)); err != nil {
		t.Fatal(err)
	}
	if calls != 7 || retries != 6 || len(f.waits) != 6 {
		t.Errorf("%d calls, %d retries heard, %d waits; want 7, 6, 6", calls, retries, len(f.waits))
	}
	for i, w := range f.waits {
		if w <= 0 || w > 4*time.Second {
			t.Errorf("wait %d is %s, want within (0, Max]", i, w)
		}
	}
}

func TestDo_ReturnsAnErrorItDoesNotRetryUnchangedAtOnce(t *testing.T) {
	f := newFakeTime()
	var calls int
	err := Do(t.Context(), f.policy(Policy{Bound: time.Hour}), failing(10, mistake, &calls))
	if err != mistake || calls != 1 || len(f.waits) != 0 {
		t.Errorf("Do = %v after %d calls and %d waits; want the mistake itself after one call", err, calls, len(f.waits))
	}
	// The policy's classifier decides.
	calls = 0
	anything := func(error) (string, bool) { return "", true }
	if err := Do(t.Context(), f.policy(Policy{Bound: time.Hour, Retryable: anything}), failing(3, mistake, &calls)); err != nil || calls != 4 {
		t.Errorf("Do with a classifier retrying everything = %v after %d calls", err, calls)
	}
}

func TestDo_GivesUpAfterTheBoundWithErrGaveUpAndTheLastCause(t *testing.T) {
	f := newFakeTime()
	var calls int
	p := f.policy(Policy{What: "get records shardId-1", Initial: 250 * time.Millisecond, Max: 10 * time.Second, Bound: time.Minute,
		Hint: "nothing read was lost"})
	err := Do(t.Context(), p, failing(1<<30, throttle, &calls))
	if !errors.Is(err, ErrGaveUp) || !errors.Is(err, throttle) {
		t.Fatalf("Do = %v, want ErrGaveUp wrapping the throttle", err)
	}
	msg := err.Error()
	for _, want := range []string{"gave up retrying: get records shardId-1 kept failing for ", "attempts, last throttled (ThrottlingException)); nothing read was lost: ", "rate exceeded"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q lacks %q", msg, want)
		}
	}
	var total time.Duration
	for _, w := range f.waits {
		total += w
	}
	if total > time.Minute || total < time.Minute/3 {
		t.Errorf("retried for %v in total, want most of and at most the bound", total)
	}
}

func TestDo_AttemptsBoundTheCalls(t *testing.T) {
	f := newFakeTime()
	var calls int
	err := Do(t.Context(), f.policy(Policy{Attempts: 4}), failing(1<<30, throttle, &calls))
	if !errors.Is(err, ErrGaveUp) || calls != 4 {
		t.Errorf("Do = %v after %d calls, want ErrGaveUp after 4", err, calls)
	}
}

func TestDo_ProgressStartsTheBoundOver(t *testing.T) {
	f := newFakeTime()
	var calls int
	// Each call fails, but every other one got something done: the bound (5 s of waits
	// without progress) is never spent although the waits add up to far more.
	op := func(context.Context) error {
		calls++
		switch {
		case calls == 30:
			return nil
		case calls%2 == 0:
			return Progress(throttle)
		}
		return throttle
	}
	if err := Do(t.Context(), f.policy(Policy{Initial: time.Second, Max: 2 * time.Second, Bound: 5 * time.Second}), op); err != nil {
		t.Fatalf("Do = %v after %d calls", err, calls)
	}
	var total time.Duration
	for _, w := range f.waits {
		total += w
	}
	if total < 10*time.Second {
		t.Errorf("waited %s in all; the test means nothing below the bound", total)
	}
	// Without progress the same schedule gives up.
	calls = 0
	err := Do(t.Context(), f.policy(Policy{Initial: time.Second, Max: 2 * time.Second, Bound: 5 * time.Second}), failing(1<<30, throttle, &calls))
	if !errors.Is(err, ErrGaveUp) {
		t.Errorf("without progress: %v", err)
	}
}

func TestDo_AStopEndsTheWaitsButTheFirstAttemptAlwaysRuns(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	var calls int
	err := Do(ctx, Policy{Bound: time.Hour}, failing(1<<30, throttle, &calls))
	if !errors.Is(err, context.Canceled) || calls != 1 {
		t.Errorf("Do on a stopped context = %v after %d calls; want context.Canceled after one", err, calls)
	}
	// A stop during a wait ends it at once.
	ctx, cancel = context.WithCancel(t.Context())
	calls = 0
	done := make(chan error, 1)
	go func() {
		done <- Do(ctx, Policy{Initial: time.Hour, Max: time.Hour}, failing(1<<30, throttle, &calls))
	}()
	time.Sleep(10 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) || calls != 1 {
			t.Errorf("Do stopped while waiting = %v after %d calls", err, calls)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a stop did not end the wait")
	}
}

func TestDo_LogsTheFirstRetryThenAtMostOnePerIntervalAndTheRecovery(t *testing.T) {
	f := newFakeTime()
	var buf bytes.Buffer
	log := &Log{Logger: slog.New(slog.NewTextHandler(&buf, nil)), Retrying: "retrying", Recovered: "recovered", GaveUp: "giving up"}
	var calls int
	// 40 retries of at most 10 s each: the first, then at most one line per 30 s.
	p := f.policy(Policy{What: "put", Initial: 5 * time.Second, Max: 10 * time.Second, Bound: time.Hour, Log: log})
	if err := Do(t.Context(), p, failing(40, throttle, &calls)); err != nil {
		t.Fatal(err)
	}
	lines := strings.Count(buf.String(), "msg=retrying")
	var total time.Duration
	for _, w := range f.waits {
		total += w
	}
	if max := int(total/DefaultLogEvery) + 2; lines < 2 || lines > max {
		t.Errorf("logged %d retry lines over %s of retries, want the first and then at most one per %s (%d)", lines, total, DefaultLogEvery, max)
	}
	if !strings.Contains(buf.String(), "retries_not_logged=") || !strings.Contains(buf.String(), `msg=recovered what=put attempts=41`) {
		t.Errorf("log:\n%s", buf.String())
	}
	buf.Reset()
	calls = 0
	_ = Do(t.Context(), f.policy(Policy{What: "put", Attempts: 2, Log: log}), failing(1<<30, throttle, &calls))
	if !strings.Contains(buf.String(), "level=ERROR msg=\"giving up\" what=put attempts=2") {
		t.Errorf("no give-up line:\n%s", buf.String())
	}
}

func TestSleep_ReturnsAtOnceForNothingAndWhenStopped(t *testing.T) {
	if err := Sleep(t.Context(), 0); err != nil {
		t.Errorf("Sleep(0) = %v", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	began := time.Now()
	if err := Sleep(ctx, time.Hour); !errors.Is(err, context.Canceled) || time.Since(began) > time.Second {
		t.Errorf("Sleep on a stopped context = %v after %s", err, time.Since(began))
	}
}
