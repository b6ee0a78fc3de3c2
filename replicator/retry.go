package replicator

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/ddbtape/ddbtape/checkpoint"
	"github.com/ddbtape/ddbtape/retry"
	"github.com/ddbtape/ddbtape/writer"
)

// DefaultStoreRetryBound is how long storing a segment or a checkpoint is retried before
// the capture stops and says so: long enough to ride out an object store's outage or a
// full disk being cleaned, short enough that an operator hears about it.
const DefaultStoreRetryBound = 10 * time.Minute

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

// retry runs op, a store of what (segment, checkpoint, ledger), until it succeeds, fails
// permanently, or keeps failing for StoreRetryBound: every other error is retried, a full
// disk or a read-only file system included. While it retries, the shard's reading fills
// at most the next segment and then waits, so no more is read than one segment beyond
// what is stored, and no checkpoint moves. op runs at least once,
// even during a stop (it brings its own context). The first failure is logged at warn,
// later ones at most every 30 s. A retry that gives up is counted
// (metrics.Recorder.RetriesExhausted, op = what).
func (c *Capture) retry(ctx context.Context, log *slog.Logger, what string, op func() error) error {
	err := retry.Do(ctx, retry.Policy{
		What: what, Initial: 200 * time.Millisecond, Max: 30 * time.Second, Bound: c.cfg.StoreRetryBound,
		Retryable: func(err error) (string, bool) { return "", !permanent(err) },
		Hint:      "nothing was checkpointed past what is stored; fix the destination and run again to resume",
		Log:       &retry.Log{Logger: log, Retrying: "cannot store; retrying, reading paused and checkpoint not advanced", Recovered: "stored after retries"},
		Sleep:     c.cfg.Sleep,
	}, func(context.Context) error { return op() })
	if errors.Is(err, retry.ErrGaveUp) {
		c.cfg.Metrics.RetriesExhausted(c.cfg.Table, what)
	}
	return err
}
