// Package replicator runs the capture pipeline: it tails every shard of a table's stream
// in lineage order, stores records as Parquet change segments and checkpoints each shard
// once its records are durable.
package replicator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ddbtape/ddbtape/checkpoint"
	"github.com/ddbtape/ddbtape/lease"
	"github.com/ddbtape/ddbtape/metrics"
	"github.com/ddbtape/ddbtape/shards"
	"github.com/ddbtape/ddbtape/storage"
	"github.com/ddbtape/ddbtape/writer"
)

// streamRetention is how long DynamoDB Streams keeps records. A first capture from
// TRIM_HORIZON covers this far back from its start.
const streamRetention = 24 * time.Hour

// Config is what one table's capture needs besides its clients.
type Config struct {
	Table string
	// StartLatest reads shards that have no checkpoint from LATEST instead of TRIM_HORIZON,
	// on the first run only; shards that appear later are always read from TRIM_HORIZON.
	StartLatest bool
	Roll        writer.RollPolicy
	// UntilIdle, when positive, ends the capture once every open shard returned no new
	// record for this long and everything read is stored and checkpointed.
	UntilIdle time.Duration
	// RelistInterval is how often DescribeStream is asked for new shards (default 30 s).
	RelistInterval time.Duration
	// CoverageInterval is how often an idle shard saves how far it is covered (default 10 s).
	CoverageInterval time.Duration
	// StoreRetryBound is how long storing a segment or checkpoint is retried before the
	// capture stops (default DefaultStoreRetryBound).
	StoreRetryBound time.Duration
	// Sleep waits between store retries (default: a timer); tests shorten it.
	Sleep func(ctx context.Context, d time.Duration) error
	// SpoolDir holds segments being written before upload (default: the system temp dir).
	SpoolDir string
	// Reader tunes the per-shard read loop (poll and retry settings); API, StreamARN and
	// Logger are filled in per shard.
	Reader shards.Reader
	// Metrics receives the pipeline's events (records, segments, checkpoints, calls,
	// retries, gaps); nil: metrics.Nop.
	Metrics metrics.Recorder
	// FlushTimeout bounds the final flush after reading stopped (default 2 minutes); a
	// sidecar keeps it inside its shutdown grace period.
	FlushTimeout time.Duration
	// Leases, when set, shares the shards with other capture processes: this one reads
	// only the shards it holds a lease on (see leases.go). Nil: it reads every shard.
	Leases Leases
	Logger *slog.Logger
}

// Capture tails one table's stream. Create it with NewCapture; Run it once.
type Capture struct {
	cfg         Config
	tables      shards.TableAPI
	streams     shards.StreamsAPI
	bucket      storage.Bucket
	store       checkpoint.Store
	now         func() time.Time
	log         *slog.Logger
	spoolDir    string
	startLatest bool
	metrics     counters
}

// counters are the capture's running totals (exported through Stats).
type counters struct {
	records, segments, gaps atomic.Int64
}

// Stats is a summary of a capture run.
type Stats struct {
	Records  int64
	Segments int64
	Gaps     int64
}

// NewCapture checks cfg and returns a capture ready to Run.
func NewCapture(cfg Config, tables shards.TableAPI, streams shards.StreamsAPI, bucket storage.Bucket, store checkpoint.Store) (*Capture, error) {
	if cfg.Table == "" {
		return nil, errors.New("capture: no table")
	}
	if cfg.Roll == (writer.RollPolicy{}) {
		cfg.Roll = writer.DefaultRollPolicy()
	}
	if err := cfg.Roll.Validate(); err != nil {
		return nil, err
	}
	if cfg.RelistInterval <= 0 {
		cfg.RelistInterval = 30 * time.Second
	}
	if cfg.CoverageInterval <= 0 {
		cfg.CoverageInterval = 10 * time.Second
	}
	if cfg.StoreRetryBound <= 0 {
		cfg.StoreRetryBound = DefaultStoreRetryBound
	}
	if cfg.Sleep == nil {
		cfg.Sleep = sleepCtx
	}
	if cfg.Metrics == nil {
		cfg.Metrics = metrics.Nop{}
	}
	if cfg.FlushTimeout <= 0 {
		cfg.FlushTimeout = defaultFlushTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Capture{
		cfg:     cfg,
		tables:  tables,
		streams: streams,
		bucket:  bucket,
		store:   store,
		now:     time.Now,
		log:     cfg.Logger.With("table", cfg.Table),
	}, nil
}

// Stats returns the totals so far; safe to call while Run runs.
func (c *Capture) Stats() Stats {
	return Stats{Records: c.metrics.records.Load(), Segments: c.metrics.segments.Load(), Gaps: c.metrics.gaps.Load()}
}

// retry stores with retries (see retryStore).
func (c *Capture) retry(ctx context.Context, log *slog.Logger, what string, op func() error) error {
	return retryStore(ctx, log, what, c.cfg.StoreRetryBound, c.cfg.Sleep, op)
}

// reader returns the read loop for one shard; it adds the shard to the log lines itself.
func (c *Capture) reader(streamARN, shardID string) *shards.Reader {
	r := c.cfg.Reader
	r.API, r.StreamARN, r.Logger = c.streams, streamARN, c.log
	r.Observer = callObserver{table: c.cfg.Table, shard: shardID, rec: c.cfg.Metrics}
	return &r
}

// Run captures until ctx is cancelled (a normal stop: it returns nil once everything read
// is stored and checkpointed), until the table is idle with UntilIdle set, or until a
// shard fails, whose error it returns after the other shards have stored what they read.
func (c *Capture) Run(ctx context.Context) error {
	stream, err := shards.StreamOf(ctx, c.tables, c.cfg.Table)
	if err != nil {
		return err
	}
	state, err := c.store.Load(ctx, c.cfg.Table)
	if err != nil {
		return err
	}
	removeStaleSpools(c.cfg.SpoolDir, c.log)
	spool, err := os.MkdirTemp(c.cfg.SpoolDir, spoolPrefix())
	if err != nil {
		return fmt.Errorf("create spool directory: %w", err)
	}
	defer os.RemoveAll(spool)
	c.spoolDir = spool

	r := &run{c: c, stream: stream.StreamARN, state: state, workers: map[string]*shardWorker{}, done: make(chan workerResult)}
	if err := r.prepare(ctx); err != nil {
		return err
	}
	c.log.Info("capture started", "stream", stream.StreamARN, "known_shards", len(r.positions))
	err = c.withLeases(ctx, func() error { return r.loop(ctx) })
	st := c.Stats()
	c.log.Info("capture stopped", "records", st.Records, "segments", st.Segments, "gaps", st.Gaps)
	return err
}

// run is the coordinator's state for one Capture.Run: which shards are known, running and
// finished. Only the coordinator goroutine touches it.
type run struct {
	c         *Capture
	stream    string
	state     checkpoint.Table
	positions map[string]checkpoint.Position // this stream's positions, by shard
	lineage   shards.Lineage
	listed    bool
	workers   map[string]*shardWorker
	done      chan workerResult
	wg        sync.WaitGroup
	firstErr  error
	// coveredFrom is given to shards started without a checkpoint and without a known parent.
	coveredFrom time.Time
	// emptySince is when the last worker ended, or the loop started (c.now).
	emptySince time.Time
}

type workerResult struct {
	shardID string
	err     error
}

func (r *run) prepare(ctx context.Context) error {
	c := r.c
	r.positions = map[string]checkpoint.Position{}
	var otherStreams []string
	var otherCovered time.Time // the old stream's last covered moment
	for id, p := range r.state.Shards {
		if p.StreamARN == r.stream {
			r.positions[id] = p
			if r.coveredFrom.IsZero() || p.CoveredFrom.Before(r.coveredFrom) {
				r.coveredFrom = p.CoveredFrom
			}
			continue
		}
		otherStreams = append(otherStreams, p.StreamARN)
		if p.CoveredUntil.After(otherCovered) {
			otherCovered = p.CoveredUntil
		}
	}
	first := len(r.positions) == 0
	c.startLatest = first && c.cfg.StartLatest
	if first {
		r.coveredFrom = c.now().UTC()
		if !c.startLatest {
			r.coveredFrom = r.coveredFrom.Add(-streamRetention)
		}
	}
	if first && len(otherStreams) > 0 {
		// The table's stream was disabled and enabled again: what happened in between is
		// unknown, so the backup has a gap until a new snapshot.
		gap := checkpoint.Gap{StreamARN: r.stream, ShardID: checkpoint.AllShards, From: otherCovered, DetectedAt: c.now().UTC(),
			Reason: fmt.Sprintf("the table's stream changed (was %s); changes between the two streams are unknown", otherStreams[0])}
		if err := c.store.AddGap(ctx, c.cfg.Table, gap); err != nil {
			return fmt.Errorf("record stream change: %w", err)
		}
		c.log.Warn("the table's stream changed since the last capture: recorded a gap; take a new snapshot", "old_stream", otherStreams[0])
	}
	return nil
}

func (r *run) loop(ctx context.Context) error {
	c := r.c
	readCtx, stopReading := context.WithCancel(ctx)
	defer stopReading()

	relist := time.NewTicker(c.cfg.RelistInterval)
	defer relist.Stop()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()

	r.emptySince = c.now()
	stopping := false
	stop := func() {
		if !stopping {
			// Stop taking leases before the readers stop and flush: a lease taken now
			// would get no reader, and it is released with the others afterwards.
			stopping = true
			r.stopTaking()
			stopReading()
		}
	}
	// A listing cut short by a stop is no failure (here and below).
	if err := r.schedule(readCtx); err != nil && readCtx.Err() == nil {
		stop()
		r.firstErr = err
	}
	for len(r.workers) > 0 || !stopping {
		select {
		case res := <-r.done:
			// The worker has ended (the send happens after its last write), so its
			// position is safe to read: it is what scheduling children needs.
			r.positions[res.shardID] = r.workers[res.shardID].pos
			delete(r.workers, res.shardID)
			if len(r.workers) == 0 {
				r.emptySince = c.now()
			}
			if res.err != nil {
				if r.firstErr == nil {
					r.firstErr = res.err
				}
				stop()
			} else if !stopping {
				if err := r.schedule(readCtx); err != nil && readCtx.Err() == nil {
					r.firstErr = err
					stop()
				}
			}
		case <-r.leasesChanged():
			if !stopping {
				if err := r.startLeased(readCtx, true); err != nil {
					c.log.Warn("list shards failed; will retry", "err", err)
				}
			}
		case <-relist.C:
			if !stopping {
				if err := r.schedule(readCtx); err != nil {
					c.log.Warn("list shards failed; will retry", "err", err)
				}
			}
		case <-tick.C:
			if !stopping && c.cfg.UntilIdle > 0 && r.idle() {
				// One last look for new shards before declaring the table idle.
				if err := r.schedule(readCtx); err != nil {
					c.log.Warn("list shards failed; will retry", "err", err)
				} else if r.idle() {
					c.log.Info("idle: every open shard returned no new record", "for", c.cfg.UntilIdle)
					stop()
				}
			}
		case <-ctx.Done():
			stop()
		}
	}
	r.wg.Wait()
	return r.firstErr
}

// idle reports whether every running shard is open and quiet for UntilIdle, and nothing
// is waiting to start. With leases, reading no shard counts only once it lasted UntilIdle:
// the heartbeat takes leases a moment after the shards are listed, longer on a busy
// machine, and a capture that has not taken its leases yet is not idle.
func (r *run) idle() bool {
	now := r.c.now()
	for _, w := range r.workers {
		if w.idleFor(now) < r.c.cfg.UntilIdle {
			return false
		}
	}
	if r.c.cfg.Leases != nil && len(r.workers) == 0 && now.Sub(r.emptySince) < r.c.cfg.UntilIdle {
		return false
	}
	return r.listed
}

// schedule lists the stream's shards and starts every shard that is ready: not finished,
// not running, and its parent finished or gone.
func (r *run) schedule(ctx context.Context) error {
	c := r.c
	list, err := shards.ListShards(ctx, c.streams, r.stream)
	if err != nil {
		return fmt.Errorf("list shards of %s: %w", r.stream, err)
	}
	r.lineage = shards.BuildLineage(list)
	r.listed = true
	if err := r.recordVanished(ctx, list); err != nil {
		return err
	}
	if c.cfg.Leases != nil {
		return r.scheduleLeased(ctx, list)
	}
	finished := func(id string) bool { return r.positions[id].Finished }
	running := func(id string) bool { _, ok := r.workers[id]; return ok }
	for _, s := range r.lineage.Ready(finished, running) {
		r.start(ctx, s, nil)
	}
	return nil
}

// recordVanished turns shards that were checkpointed but not finished and are no longer
// listed (trimmed by retention while ddbtape was down) into recorded gaps, so that they
// no longer hold back the covered window and no restore pretends continuity across them.
func (r *run) recordVanished(ctx context.Context, list []shards.Shard) error {
	c := r.c
	listed := make(map[string]bool, len(list))
	for _, s := range list {
		listed[s.ID] = true
	}
	ids := make([]string, 0, len(r.positions))
	for id := range r.positions {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		p := r.positions[id]
		if p.Finished || listed[id] {
			continue
		}
		now := c.now().UTC()
		from := p.CoveredUntil
		if p.LastRecordTime.After(from) {
			from = p.LastRecordTime
		}
		gap := checkpoint.Gap{StreamARN: r.stream, ShardID: id, AfterSequence: p.SequenceNumber, From: from, DetectedAt: now,
			Reason: "shard was trimmed from the stream before it was read to its end"}
		if err := c.store.AddGap(ctx, c.cfg.Table, gap); err != nil {
			return fmt.Errorf("record gap of shard %s: %w", id, err)
		}
		p.Finished, p.UpdatedAt = true, now
		if err := c.store.Save(ctx, c.cfg.Table, p); err != nil {
			return fmt.Errorf("save checkpoint of shard %s: %w", id, err)
		}
		r.positions[id] = p
		c.metrics.gaps.Add(1)
		c.cfg.Metrics.Gap(c.cfg.Table, id)
		c.log.Error("gap in the backup: shard vanished before it was read to its end; take a new snapshot", "shard", id, "after_sequence", p.SequenceNumber)
	}
	return nil
}

func (r *run) start(ctx context.Context, s shards.Shard, l *lease.Lease) {
	c := r.c
	pos, ok := r.positions[s.ID]
	if !ok {
		pos = checkpoint.Position{StreamARN: r.stream, ShardID: s.ID, ParentShardID: s.ParentID, CoveredFrom: r.coveredFrom}
		if parent, ok := r.positions[s.ParentID]; ok && !parent.CoveredFrom.IsZero() {
			pos.CoveredFrom = parent.CoveredFrom
		}
	}
	ctx, pos, unbind := leased(ctx, l, pos)
	w := &shardWorker{c: c, stream: r.stream, shard: s, pos: pos, lease: l, log: c.log.With("shard", s.ID)}
	r.workers[s.ID] = w
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		err := w.run(ctx)
		unbind()
		r.done <- workerResult{shardID: s.ID, err: err}
	}()
}
