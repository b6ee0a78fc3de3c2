package replicator

import (
	"context"
	"sync"
	"time"

	"github.com/ddbtape/ddbtape/checkpoint"
	ckdynamo "github.com/ddbtape/ddbtape/checkpoint/dynamodb"
	"github.com/ddbtape/ddbtape/ledger"
	"github.com/ddbtape/ddbtape/shards"
)

// run is the coordinator's state for one Capture.Run: which streams and shards are known,
// running and finished. Only the coordinator goroutine touches it.
type run struct {
	c     *Capture
	state checkpoint.Table // the checkpoint store when the run began
	known ledger.State     // the ledger when the run began
	// streams are the streams being read: the table's current one, and replaced ones
	// whose unfinished shards are drained.
	streams map[string]*streamRun
	current string // the table's current stream
	// first is set when the table was never captured (no position, no ledger shard):
	// then, with StartLatest, the shards of the first listing are read from LATEST.
	first    bool
	workers  map[string]*shardWorker // by shard id
	done     chan workerResult
	wg       sync.WaitGroup
	firstErr error
	// relists counts schedule calls, to look for a replaced stream now and then.
	relists int
	// emptySince is when the last worker ended, or the loop started (c.now).
	emptySince time.Time
}

type workerResult struct {
	shardID string
	err     error
}

func newRun(c *Capture, state checkpoint.Table, known ledger.State) *run {
	return &run{c: c, state: state, known: known, streams: map[string]*streamRun{}, workers: map[string]*shardWorker{}, done: make(chan workerResult)}
}

// prepare sets up the current stream and the replaced ones that still have unfinished
// shards, and records the streams in the ledger before anything is read.
func (r *run) prepare(ctx context.Context, cur shards.Stream) error {
	r.first = len(r.state.Shards) == 0 && len(r.known.Shards) == 0
	byStream := map[string]map[string]checkpoint.Position{}
	for id, p := range r.state.Shards {
		if byStream[p.StreamARN] == nil {
			byStream[p.StreamARN] = map[string]checkpoint.Position{}
		}
		byStream[p.StreamARN][id] = p
	}
	r.current = cur.StreamARN
	r.addStream(cur.StreamARN, cur.ViewType, byStream[cur.StreamARN])
	// Replaced streams: drain the shards neither the checkpoint nor the ledger knows as
	// read to their end, while DynamoDB still has them.
	olds := map[string]bool{}
	for arn, ps := range byStream {
		for _, p := range ps {
			if arn != cur.StreamARN && !p.Finished {
				olds[arn] = true
			}
		}
	}
	for k := range r.known.Shards {
		if k.Stream != cur.StreamARN && !r.known.Coverage[k].Finished && r.known.Coverage[k].EndedBy.IsZero() {
			if p, ok := byStream[k.Stream][k.Shard]; !ok || !p.Finished {
				olds[k.Stream] = true
			}
		}
	}
	for arn := range olds {
		sr := r.addStream(arn, "", byStream[arn])
		sr.draining = true
		r.c.log.Warn("the table's stream was replaced; reading what is left of the old one while it lasts", "old_stream", arn, "stream", cur.StreamARN)
	}
	return r.c.flushLedger(ctx)
}

// addStream starts tracking a stream and records it in the ledger.
func (r *run) addStream(arn, viewType string, positions map[string]checkpoint.Position) *streamRun {
	if sr, ok := r.streams[arn]; ok {
		return sr
	}
	sr := newStreamRun(arn, positions, r.known)
	r.streams[arn] = sr
	r.c.ledger.Add(ledger.Entry{Streams: []ledger.Stream{{ARN: arn, ViewType: viewType, FirstSeen: r.c.now().UTC()}}})
	return sr
}

func (r *run) loop(ctx context.Context) error {
	c := r.c
	readCtx, stopReading := context.WithCancel(ctx)
	defer stopReading()

	relist := time.NewTicker(c.cfg.RelistInterval)
	defer relist.Stop()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	flushEvery := time.NewTicker(c.cfg.CoverageInterval)
	defer flushEvery.Stop()
	report := time.NewTicker(c.cfg.ReportInterval)
	defer report.Stop()

	r.emptySince = c.now()
	// done is ctx.Done() until it fires, then nil: a closed channel would be ready in every
	// turn of the loop below and keep it spinning while the workers finish.
	done := ctx.Done()
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
	fail := func(err error) {
		if r.firstErr == nil && readCtx.Err() == nil {
			// An error after reading was told to stop is that stop, not a failure.
			r.firstErr = err
		}
		stop()
	}
	if err := r.schedule(readCtx); err != nil {
		fail(err)
	} else {
		c.readingSince.CompareAndSwap(0, c.now().UnixNano())
	}
	for len(r.workers) > 0 || !stopping {
		select {
		case res := <-r.done:
			// The worker has ended (the send happens after its last write), so its
			// position is safe to read: it is what scheduling children needs.
			w := r.workers[res.shardID]
			w.stream.positions[res.shardID] = w.pos
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
				if err := r.schedule(readCtx); err != nil {
					fail(err)
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
		case <-flushEvery.C:
			if !stopping {
				if err := c.flushLedger(readCtx); err != nil && readCtx.Err() == nil {
					fail(err)
				}
			}
		case <-report.C:
			if !stopping {
				r.report()
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
		case <-done:
			done = nil
			stop()
		}
	}
	r.wg.Wait()
	// What the workers stored is claimed in the ledger before the capture ends.
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.cfg.FlushTimeout)
	defer cancel()
	if err := c.flushLedger(fctx); err != nil && r.firstErr == nil {
		r.firstErr = err
	}
	return r.firstErr
}

// idle reports whether every running shard is open and quiet for UntilIdle, and every
// stream was listed. With leases, reading no shard counts only once it lasted UntilIdle:
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
	for _, sr := range r.streams {
		if !sr.listed {
			return false
		}
	}
	return true
}

// start runs a reader for shard s of stream sr, holding lease l when shards are shared.
func (r *run) start(ctx context.Context, sr *streamRun, s shards.Shard, l *ckdynamo.Lease) {
	c := r.c
	pos, known := sr.positions[s.ID]
	if !known {
		pos = checkpoint.Position{StreamARN: sr.arn, ShardID: s.ID, ParentShardID: s.ParentID}
	}
	ctx, pos, unbind := leased(ctx, l, pos)
	mode := startMode(pos, sr, s, l, c.cfg.StartLatest && r.first)
	w := &shardWorker{c: c, stream: sr, shard: s, pos: pos, mode: mode, lease: l, log: c.log.With("shard", s.ID)}
	if pos.CoveredFrom.IsZero() && pos.SequenceNumber == "" && !pos.Finished {
		c.ledger.Add(ledger.Entry{Shards: []ledger.Shard{{StreamARN: sr.arn, ID: s.ID, ParentID: s.ParentID, Start: mode.String(), StartedAt: c.now().UTC()}}})
	}
	r.workers[s.ID] = w
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		err := w.run(ctx)
		unbind()
		r.done <- workerResult{shardID: s.ID, err: err}
	}()
}

// readMode is how a shard's reading begins.
type readMode int

const (
	readTrimHorizon readMode = iota // from the oldest record the stream keeps
	readAfterParent                 // from its first record, its parent read to its end
	readLatest                      // from the newest: older records are never read
	readResume                      // after the checkpoint's sequence number
)

func (m readMode) String() string {
	return [...]string{ledger.StartTrimHorizon, ledger.StartAfterParent, ledger.StartLatest, "resume"}[m]
}

// startMode says where shard s begins: after its checkpoint; from LATEST only when the
// table's first capture listed it at its start and no worker held its lease before;
// otherwise from its first record still kept.
func startMode(pos checkpoint.Position, sr *streamRun, s shards.Shard, l *ckdynamo.Lease, latest bool) readMode {
	switch {
	case pos.SequenceNumber != "":
		return readResume
	case latest && sr.initial[s.ID] && pos.CoveredFrom.IsZero() && (l == nil || l.Counter() <= 1):
		return readLatest
	}
	if p, ok := sr.positions[s.ParentID]; ok && p.Finished {
		return readAfterParent
	}
	return readTrimHorizon
}
