package shards

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/aws/smithy-go"
	"github.com/cenkalti/backoff/v4"

	"github.com/ddbtape/ddbtape/transient"
)

// ErrGaveUp means a call kept failing with retryable errors (throttling, 5xx, connection
// errors) for longer than the retry bound. Nothing read was lost: the reader stopped
// before handing on anything past what its handler already took.
var ErrGaveUp = errors.New("gave up retrying DynamoDB Streams; nothing read was lost, run again to resume from the last checkpoint (check throttling, network and the endpoint)")

// Error codes the reader acts on. They are compared with smithy.APIError.ErrorCode, never
// with message text.
const (
	codeResourceNotFound = "ResourceNotFoundException"
	codeExpiredIterator  = "ExpiredIteratorException"
	codeTrimmed          = "TrimmedDataAccessException"
)

// Retry schedule: exponential with jitter, capped so a recovered service is noticed within
// seconds. The bound (Reader.RetryBound) is how long one call may keep failing.
const (
	retryInitialInterval = 250 * time.Millisecond
	retryMaxInterval     = 10 * time.Second
	retryLogEvery        = 30 * time.Second
	// callGrace is how long a call in flight when its reader is stopped may still take.
	callGrace = 30 * time.Second
)

// retrier runs calls with retries. It belongs to one Read (one shard) or one ListShards
// call, so its log rate limit is per shard.
type retrier struct {
	sleep   func(ctx context.Context, d time.Duration) error
	now     func() time.Time
	bound   time.Duration
	log     *slog.Logger
	obs     Observer
	lastLog time.Time
	quiet   int // retries not logged since lastLog
}

type clockFunc func() time.Time

func (f clockFunc) Now() time.Time { return f() }

// do calls f until it succeeds, fails with an error that is not transient, ctx ends, or
// the retry bound is spent. It returns f's error unchanged when not transient, ctx.Err()
// when ctx ended, and an error wrapping ErrGaveUp and the last error when the bound is hit.
//
// A stop (ctx cancelled) ends the waits between attempts and starts no new one, but lets
// an attempt in flight finish (within callGrace), with the context f is given: what a
// call did and cost is then known. Every call counted by the Observer was sent, and the
// records of a GetRecords answered as the reader stops reach its handler.
func (rt *retrier) do(ctx context.Context, op, what string, f func(context.Context) error) error {
	b := &backoff.ExponentialBackOff{
		InitialInterval:     retryInitialInterval,
		RandomizationFactor: backoff.DefaultRandomizationFactor,
		Multiplier:          backoff.DefaultMultiplier,
		MaxInterval:         retryMaxInterval,
		MaxElapsedTime:      rt.bound,
		Stop:                backoff.Stop,
		Clock:               clockFunc(rt.now),
	}
	b.Reset()
	for attempt := 1; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		rt.obs.Call(op)
		err := whole(ctx, f)
		if err == nil {
			if attempt > 1 {
				rt.log.Info("call succeeded after retries", "call", what, "attempts", attempt)
			}
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		reason, ok := transient.Reason(err)
		if !ok {
			return err
		}
		wait := b.NextBackOff()
		if wait == backoff.Stop {
			rt.log.Error("giving up", "call", what, "reason", reason, "attempts", attempt,
				"elapsed", b.GetElapsedTime(), "error", err)
			rt.obs.GaveUp(op)
			return fmt.Errorf("%w: %s failed for %s (%d attempts), last %s: %w",
				ErrGaveUp, what, b.GetElapsedTime().Round(time.Millisecond), attempt, reason, err)
		}
		wait = min(wait, retryMaxInterval) // jitter must not stretch past the cap
		rt.obs.Retry(op, transient.Throttled(err))
		rt.logRetry(what, reason, attempt, wait, err)
		if err := rt.sleep(ctx, wait); err != nil {
			return err
		}
	}
}

// whole runs one call of f, which a cancellation of ctx leaves to finish within callGrace.
func whole(ctx context.Context, f func(context.Context) error) error {
	cctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	stop := context.AfterFunc(ctx, func() { time.AfterFunc(callGrace, cancel) })
	defer stop()
	return f(cctx)
}

// logRetry logs the first retry and then at most one line per retryLogEvery, with the
// count of retries it kept quiet about: a throttling storm must not flood the log.
func (rt *retrier) logRetry(what, reason string, attempt int, wait time.Duration, err error) {
	now := rt.now()
	if !rt.lastLog.IsZero() && now.Sub(rt.lastLog) < retryLogEvery {
		rt.quiet++
		return
	}
	rt.log.Warn("retrying", "call", what, "reason", reason, "attempt", attempt,
		"wait", wait, "retries_not_logged", rt.quiet, "error", err)
	rt.lastLog = now
	rt.quiet = 0
}

// sleepContext waits d or until ctx ends.
func sleepContext(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// apiCode returns the AWS error code of err, or "" when err carries none.
func apiCode(err error) string {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		return apiErr.ErrorCode()
	}
	return ""
}
