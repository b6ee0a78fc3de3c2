package replicator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/cenkalti/backoff/v4"

	"github.com/ddbtape/ddbtape/checkpoint"
	"github.com/ddbtape/ddbtape/writer"
)

// DefaultStoreRetryBound is how long storing a segment or a checkpoint is retried before
// the capture stops and says so: long enough to ride out an object store's outage or a
// full disk being cleaned, short enough that an operator hears about it.
const DefaultStoreRetryBound = 10 * time.Minute

// errStoreGaveUp marks the error of a store retry that gave up.
var errStoreGaveUp = errors.New("gave up retrying")

// permanent reports errors that no retry can cure: the data or the store is wrong, not
// the weather.
func permanent(err error) bool {
	return errors.Is(err, context.Canceled) ||
		errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, checkpoint.ErrCorrupt) ||
		errors.Is(err, checkpoint.ErrBackwards) ||
		errors.Is(err, writer.ErrSegmentClosed) ||
		errors.Is(err, writer.ErrEmptySegment)
}

// retryStore runs op until it succeeds, fails permanently, or keeps failing for bound.
// While it retries the shard's reader waits, so nothing more is read than is stored, and
// no checkpoint moves. The first failure is logged at warn, later ones at most every 30 s.
func retryStore(ctx context.Context, log *slog.Logger, what string, bound time.Duration, sleep func(context.Context, time.Duration) error, op func() error) error {
	b := backoff.NewExponentialBackOff()
	b.InitialInterval = 200 * time.Millisecond
	b.MaxInterval = 30 * time.Second
	b.MaxElapsedTime = bound
	b.Reset()
	var lastLog time.Time
	for attempt := 1; ; attempt++ {
		err := op()
		if err == nil {
			if attempt > 1 {
				log.Info("stored after retries", "what", what, "attempts", attempt)
			}
			return nil
		}
		if permanent(err) {
			return err
		}
		wait := b.NextBackOff()
		if wait == backoff.Stop {
			return fmt.Errorf("%w %s after %s (nothing was checkpointed past what is stored; fix the destination and run again to resume): %w", errStoreGaveUp, what, bound, err)
		}
		if time.Since(lastLog) >= 30*time.Second {
			log.Warn("cannot store; retrying, reading paused and checkpoint not advanced", "what", what, "attempt", attempt, "wait", wait.Round(time.Millisecond), "error", err)
			lastLog = time.Now()
		}
		if err := sleep(ctx, wait); err != nil {
			return err
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
