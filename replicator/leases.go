package replicator

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/ddbtape/ddbtape/checkpoint"
	ckdynamo "github.com/ddbtape/ddbtape/checkpoint/dynamodb"
	"github.com/ddbtape/ddbtape/shards"
)

// Leases shares a table's shards among several capture processes (checkpoint/dynamodb's
// Leases). With Leases set in Config, a capture reads only the shards it holds a lease
// on, each under the lease's context and saving checkpoints through the lease, so a
// reader that lost its lease stops and can write nothing more. Nil: this process reads
// every shard.
type Leases interface {
	// Run renews, takes and balances leases until ctx is cancelled.
	Run(ctx context.Context) error
	// Track makes sure every listed shard has a lease.
	Track(ctx context.Context, streamARN string, list []shards.Shard) error
	// Held returns the leases held now.
	Held() []*ckdynamo.Lease
	// Changed receives after leases were taken.
	Changed() <-chan struct{}
	// StopTaking makes the heartbeat only renew (shutdown: readers still store).
	StopTaking()
	// Release gives up every held lease so others take them at once.
	Release(ctx context.Context) error
}

// releaseTimeout bounds the release of leases on shutdown; leases not released expire.
const releaseTimeout = 30 * time.Second

// withLeases runs f (the coordinator's loop) with the lease heartbeat beside it. The
// heartbeat outlives ctx until f returns, so leases stay held while readers store what
// they read after a SIGTERM; then every lease is released so other workers take over at
// once instead of waiting for expiry. The order is what makes that "every": stop taking
// (f's stop does it before the readers flush), flush, stop the heartbeat and wait for
// its beat in progress to finish (a write cut off in flight could leave a lease owned
// but unknown), and only then release.
func (c *Capture) withLeases(ctx context.Context, f func() error) error {
	ls := c.cfg.Leases
	if ls == nil {
		return f()
	}
	hbCtx, stopHeartbeat := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = ls.Run(hbCtx) // logs its own failures and returns nil on cancel
	}()
	err := f()
	ls.StopTaking()
	stopHeartbeat()
	<-done
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), releaseTimeout)
	defer cancel()
	if rerr := ls.Release(rctx); rerr != nil {
		c.log.Warn("could not release every lease; other workers take them once they expire", "err", rerr)
	} else {
		c.log.Info("leases released")
	}
	return err
}

// stopTaking is called when the coordinator stops reading.
func (r *run) stopTaking() {
	if ls := r.c.cfg.Leases; ls != nil {
		ls.StopTaking()
	}
}

// leasesChanged is nil (never ready) without leases.
func (r *run) leasesChanged() <-chan struct{} {
	if ls := r.c.cfg.Leases; ls != nil {
		return ls.Changed()
	}
	return nil
}

// scheduleLeased tracks the listed shards' leases, then starts readers for the leases
// held. The lease manager takes a child's lease only once its parent is checkpointed as
// finished, by whichever worker held it, so held leases are ready by construction.
func (r *run) scheduleLeased(ctx context.Context, sr *streamRun, list []shards.Shard) error {
	if err := r.c.cfg.Leases.Track(ctx, sr.arn, list); err != nil {
		return err
	}
	return r.startLeased(ctx, false)
}

// streamOf finds the stream whose last listing has shard id.
func (r *run) streamOf(id string) (*streamRun, shards.Shard, bool) {
	for _, sr := range r.streams {
		if s, ok := sr.lineage.Shard(id); ok {
			return sr, s, true
		}
	}
	return nil, shards.Shard{}, false
}

// startLeased starts a reader for every held lease that has none. A lease of a shard this
// process has not listed yet (a child another worker's listing found) makes it list once.
func (r *run) startLeased(ctx context.Context, mayRelist bool) error {
	held := r.c.cfg.Leases.Held()
	depth := func(id string) int {
		if sr, _, ok := r.streamOf(id); ok {
			return sr.lineage.Depth(id)
		}
		return 0
	}
	slices.SortFunc(held, func(a, b *ckdynamo.Lease) int { return depth(a.ShardID()) - depth(b.ShardID()) })
	unlisted, reloaded := false, false
	for _, l := range held {
		id := l.ShardID()
		sr, s, ok := r.streamOf(id)
		if !ok {
			unlisted = true
			continue
		}
		if _, running := r.workers[id]; running || sr.positions[id].Finished {
			continue
		}
		if _, checkpointed := l.Position(); !checkpointed && !reloaded {
			if _, known := sr.positions[s.ParentID]; s.ParentID != "" && !known {
				// The parent was read by another worker: load its position so the
				// child knows it starts after it.
				r.reload(ctx)
				reloaded = true
			}
		}
		r.start(ctx, sr, s, l)
	}
	if unlisted && mayRelist {
		return r.schedule(ctx)
	}
	return nil
}

// reload refreshes the positions of every stream from the store; on failure the old
// ones stay (they only serve the bookkeeping of new shards).
func (r *run) reload(ctx context.Context) {
	state, err := r.c.store.Load(ctx, r.c.cfg.Table)
	if err != nil {
		r.c.log.Warn("reload checkpoints failed", "err", err)
		return
	}
	for id, p := range state.Shards {
		if sr, ok := r.streams[p.StreamARN]; ok {
			if _, running := r.workers[id]; !running {
				sr.positions[id] = p
			}
		}
	}
}

// leased binds a worker to its lease: its context ends when the lease is lost, and it
// starts from the checkpoint read when the lease was taken (another worker may have
// moved it since this process loaded its state).
func leased(ctx context.Context, l *ckdynamo.Lease, pos checkpoint.Position) (context.Context, checkpoint.Position, context.CancelFunc) {
	if l == nil {
		return ctx, pos, func() {}
	}
	if p, ok := l.Position(); ok {
		pos = p
	}
	ctx, cancel := l.Bind(ctx)
	return ctx, pos, cancel
}

// checkpoints is where the worker saves: through its lease when it has one.
func (w *shardWorker) checkpoints() checkpoint.Store {
	if w.lease != nil {
		return w.lease.Store()
	}
	return w.c.store
}

// lostLease reports whether the worker stopped because its lease was lost. Then nothing
// more may be stored or checkpointed: the new holder re-reads from the last checkpoint.
func (w *shardWorker) lostLease(ctx context.Context, readErr error) bool {
	if w.lease == nil || !(errors.Is(context.Cause(ctx), ckdynamo.ErrLeaseLost) || errors.Is(readErr, ckdynamo.ErrLeaseLost)) {
		return false
	}
	w.log.Warn("lease lost: stopped reading the shard; its new holder continues from the last checkpoint", "checkpoint", w.pos.SequenceNumber)
	return true
}
