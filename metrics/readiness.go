package metrics

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/ddbtape/ddbtape/checkpoint"
)

// ReadinessSource answers /readyz: nil when ready, else an error saying, in one line,
// what is not ready.
type ReadinessSource interface {
	Ready(ctx context.Context) error
}

// ReadinessFunc adapts a function to ReadinessSource.
type ReadinessFunc func(ctx context.Context) error

func (f ReadinessFunc) Ready(ctx context.Context) error { return f(ctx) }

// AllReady is ready when every source is; it reports the first that is not.
func AllReady(sources ...ReadinessSource) ReadinessSource {
	return ReadinessFunc(func(ctx context.Context) error {
		for _, s := range sources {
			if err := s.Ready(ctx); err != nil {
				return err
			}
		}
		return nil
	})
}

// CheckpointLoader is the part of checkpoint.Store that readiness reads.
type CheckpointLoader interface {
	Load(ctx context.Context, table string) (checkpoint.Table, error)
}

// ReadingSince is what a table's loader may also tell readiness: when its capture began
// reading the stream (zero: not yet). Until its first checkpoint is saved, a capture
// that began reading less than MaxAge ago is ready: a first start is not held out of
// service while its first segment fills.
type ReadingSince interface {
	ReadingSince() time.Time
}

// DefaultReadinessCache is how long CheckpointReadiness reuses an answer: probes come
// every few seconds, and each answer costs one read of the checkpoint store per table.
const DefaultReadinessCache = 5 * time.Second

// CheckpointReadiness is ready when every table has at least one shard of its current
// stream being read and every such shard's checkpoint is younger than MaxAge (or, before
// any checkpoint, its capture began reading less than MaxAge ago: see ReadingSince). It reads
// the durable checkpoints themselves, so it tells whether the backup is advancing, not
// just whether goroutines run: a shard stuck in retries, or a store that refuses writes,
// makes it fail.
//
// A shard being read saves its checkpoint at least once per roll age when records flow
// and every few seconds when the shard is idle, so MaxAge should be a few roll ages.
type CheckpointReadiness struct {
	tables   map[string]CheckpointLoader
	maxAge   time.Duration
	now      func() time.Time
	cacheFor time.Duration

	mu     sync.Mutex
	at     time.Time
	answer error
}

// NewCheckpointReadiness checks the tables' checkpoints (by table name) against maxAge.
func NewCheckpointReadiness(tables map[string]CheckpointLoader, maxAge time.Duration) *CheckpointReadiness {
	return &CheckpointReadiness{tables: tables, maxAge: maxAge, now: time.Now, cacheFor: DefaultReadinessCache}
}

// Ready implements ReadinessSource.
func (r *CheckpointReadiness) Ready(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	if !r.at.IsZero() && now.Sub(r.at) < r.cacheFor && !now.Before(r.at) {
		return r.answer
	}
	r.answer, r.at = r.check(ctx, now), now
	return r.answer
}

func (r *CheckpointReadiness) check(ctx context.Context, now time.Time) error {
	names := make([]string, 0, len(r.tables))
	for name := range r.tables {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		state, err := r.tables[name].Load(ctx, name)
		if err != nil {
			return fmt.Errorf("table %s: load checkpoints: %w", name, err)
		}
		err = TableReady(state, now, r.maxAge)
		if errors.Is(err, ErrNotReading) {
			if rs, ok := r.tables[name].(ReadingSince); ok {
				if since := rs.ReadingSince(); !since.IsZero() && now.Sub(since) <= r.maxAge {
					continue // started, first checkpoint not due yet
				}
			}
		}
		if err != nil {
			return fmt.Errorf("table %s: %w", name, err)
		}
	}
	return nil
}

// ErrNotReading means a table has no shard being read with a checkpoint saved yet.
var ErrNotReading = errors.New("no shard is being read and checkpointed yet (starting up, or capture is failing: see the logs)")

// TableReady applies CheckpointReadiness's rule to one table's recorded state at now.
// The current stream is the one of the most recently saved position: positions of a
// stream the table no longer has stay behind, unfinished and ageing, and must not count.
func TableReady(state checkpoint.Table, now time.Time, maxAge time.Duration) error {
	var current string
	var latest time.Time
	for _, p := range state.Shards {
		if p.UpdatedAt.After(latest) || (p.UpdatedAt.Equal(latest) && p.StreamARN > current) {
			current, latest = p.StreamARN, p.UpdatedAt
		}
	}
	ids := make([]string, 0, len(state.Shards))
	for id, p := range state.Shards {
		if p.StreamARN == current && !p.Finished {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return ErrNotReading
	}
	sort.Strings(ids)
	for _, id := range ids {
		if age := now.Sub(state.Shards[id].UpdatedAt); age > maxAge {
			return fmt.Errorf("shard %s: checkpoint is %s old (limit %s): reading or storing is stalled",
				id, age.Round(time.Second), maxAge)
		}
	}
	return nil
}
