package shards

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/aws/smithy-go"

	"github.com/ddbtape/ddbtape/retry"
)

// Error codes the reader acts on. They are compared with smithy.APIError.ErrorCode, never
// with message text.
const (
	codeResourceNotFound = "ResourceNotFoundException"
	codeExpiredIterator  = "ExpiredIteratorException"
	codeTrimmed          = "TrimmedDataAccessException"
)

// Retry schedule: exponential with jitter, capped so a recovered service is noticed within
// seconds. The bound (Reader.RetryBound) is how long one call may keep failing; retries
// are logged the first time, then at most once per retryLogEvery.
const (
	retryInitialInterval = 250 * time.Millisecond
	retryMaxInterval     = 10 * time.Second
	retryLogEvery        = 30 * time.Second
	// callGrace is how long a call in flight when its reader is stopped may still take.
	callGrace = 30 * time.Second
)

// retrier runs the calls of one Read (one shard) or one ListShards call with retries
// (retry.Do). Its log is shared by those calls, so its rate limit is per shard.
type retrier struct {
	sleep func(ctx context.Context, d time.Duration) error
	now   func() time.Time
	bound time.Duration
	// firstContact bounds a call that never reached DynamoDB (retry.Policy.FirstContact).
	firstContact time.Duration
	obs          Observer
	log          *retry.Log
}

func newRetrier(r *Reader, log *slog.Logger) *retrier {
	return &retrier{sleep: r.Sleep, now: r.Now, bound: r.RetryBound, obs: r.Observer, log: &retry.Log{
		Logger: log, Retrying: "retrying", Recovered: "call succeeded after retries", GaveUp: "giving up", Every: retryLogEvery,
	}}
}

// do calls f until it succeeds, fails with an error that is not transient, ctx ends, or
// the retry bound is spent. It returns f's error unchanged when not transient, ctx.Err()
// when ctx ended, and an error wrapping retry.ErrGaveUp and the last error when the bound
// is hit.
//
// A stop (ctx cancelled) ends the waits between attempts and starts no new one, but lets
// an attempt in flight finish (within callGrace), with the context f is given: what a
// call did and cost is then known. Every call counted by the Observer was sent, and the
// records of a GetRecords answered as the reader stops reach its handler.
func (rt *retrier) do(ctx context.Context, op, what string, f func(context.Context) error) error {
	err := retry.Do(ctx, retry.Policy{
		What: what, Initial: retryInitialInterval, Max: retryMaxInterval, Bound: rt.bound,
		FirstContact: rt.firstContact, BoundName: "retry-bound",
		Hint:    "nothing read was lost, run again to resume from the last checkpoint (check throttling, network and the endpoint)",
		OnRetry: func(err error, _ time.Duration) { rt.obs.Retry(op, retry.Throttled(err)) },
		Log:     rt.log, Sleep: rt.sleep, Now: rt.now,
	}, func(ctx context.Context) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		rt.obs.Call(op)
		err := whole(ctx, f)
		if err != nil && ctx.Err() != nil {
			return ctx.Err()
		}
		return err
	})
	if errors.Is(err, retry.ErrGaveUp) {
		rt.obs.GaveUp(op)
	}
	return err
}

// whole runs one call of f, which a cancellation of ctx leaves to finish within callGrace.
func whole(ctx context.Context, f func(context.Context) error) error {
	cctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	stop := context.AfterFunc(ctx, func() { time.AfterFunc(callGrace, cancel) })
	defer stop()
	return f(cctx)
}

// apiCode returns the AWS error code of err, or "" when err carries none.
func apiCode(err error) string {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		return apiErr.ErrorCode()
	}
	return ""
}
