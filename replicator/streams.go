package replicator

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/ddbtape/ddbtape/checkpoint"
	"github.com/ddbtape/ddbtape/ledger"
	"github.com/ddbtape/ddbtape/shards"
)

// streamRun is what the coordinator knows of one stream.
type streamRun struct {
	arn string
	// start is a strict lower bound of the stream's stamps: its creation less a margin.
	start     time.Time
	positions map[string]checkpoint.Position // by shard
	lineage   shards.Lineage
	listed    bool
	// recorded are the shards the ledger has (or this run has written).
	recorded map[string]bool
	// listedAt is the latest listing whose shards are all recorded (DynamoDB's clock).
	listedAt time.Time
	// initial are the shards of the first listing, for StartLatest.
	initial map[string]bool
	// draining is set for a replaced stream: its shards are read to their ends, and
	// nothing new will appear in it.
	draining bool
}

func newStreamRun(arn string, positions map[string]checkpoint.Position, known ledger.State) *streamRun {
	sr := &streamRun{arn: arn, positions: map[string]checkpoint.Position{}, recorded: map[string]bool{}}
	for id, p := range positions {
		sr.positions[id] = p
	}
	for k := range known.Shards {
		if k.Stream == arn {
			sr.recorded[k.Shard] = true
		}
	}
	if s, ok := known.Streams[arn]; ok {
		sr.listedAt = s.ListedAt
		if !s.Created.IsZero() {
			sr.start = s.Created.Add(-stampMargin)
		}
	}
	return sr
}

// schedule lists every stream's shards, records new ones in the ledger, and starts every
// shard that is ready. Now and then, and whenever the current stream has no open shard
// left, it asks whether the table's stream was replaced.
func (r *run) schedule(ctx context.Context) error {
	r.relists++
	if cur := r.streams[r.current]; cur.listed && (r.relists%10 == 0 || cur.allClosed()) {
		r.checkReplaced(ctx)
	}
	arns := make([]string, 0, len(r.streams))
	for arn := range r.streams {
		arns = append(arns, arn)
	}
	sort.Strings(arns)
	for _, arn := range arns {
		if err := r.scheduleStream(ctx, r.streams[arn]); err != nil {
			return err
		}
	}
	return nil
}

func (r *run) scheduleStream(ctx context.Context, sr *streamRun) error {
	c := r.c
	rd := &shards.Reader{API: c.streams, StreamARN: sr.arn, RetryBound: c.cfg.Reader.RetryBound, Logger: c.log}
	l, err := rd.Describe(ctx)
	if errors.Is(err, shards.ErrStreamGone) && sr.draining {
		return r.streamGone(ctx, sr)
	}
	if err != nil {
		return fmt.Errorf("list shards of %s: %w", sr.arn, err)
	}
	if err := r.recordListing(ctx, sr, l); err != nil {
		return err
	}
	sr.lineage = shards.BuildLineage(l.Shards)
	sr.listed = true
	if err := r.recordVanished(ctx, sr, l.Shards); err != nil {
		return err
	}
	if sr.draining && sr.allFinished(l.Shards) {
		c.log.Info("the replaced stream is read to its end", "old_stream", sr.arn)
		delete(r.streams, sr.arn)
		return nil
	}
	if c.cfg.Leases != nil {
		return r.scheduleLeased(ctx, sr, l.Shards)
	}
	finished := func(id string) bool { return sr.positions[id].Finished }
	running := func(id string) bool { _, ok := r.workers[id]; return ok }
	for _, s := range sr.lineage.Ready(finished, running) {
		r.start(ctx, sr, s, nil)
	}
	return nil
}

// recordListing writes the shards a listing found that the ledger does not have yet,
// before any of them is read, together with the listing's time: the catalog holds the
// window's end back at it, since a shard created after it may be missing.
func (r *run) recordListing(ctx context.Context, sr *streamRun, l shards.Listing) error {
	c := r.c
	at := l.ServerTime
	if at.IsZero() {
		at = c.now().UTC()
	}
	if !l.Created.IsZero() && sr.start.IsZero() {
		sr.start = l.Created.Add(-stampMargin)
		c.ledger.Add(ledger.Entry{Streams: []ledger.Stream{{ARN: sr.arn, Created: l.Created}}})
	}
	if !sr.listed && r.first && sr.arn == r.current {
		sr.initial = map[string]bool{}
		for _, s := range l.Shards {
			sr.initial[s.ID] = true
		}
	}
	var facts []ledger.Shard
	for _, s := range l.Shards {
		if sr.recorded[s.ID] {
			continue
		}
		f := ledger.Shard{StreamARN: sr.arn, ID: s.ID, ParentID: s.ParentID, FirstSeen: at}
		if !sr.listedAt.IsZero() {
			// Not in the last recorded listing: created after it, less the listing delay.
			f.BornAfter = sr.listedAt.Add(-stampMargin)
		}
		facts = append(facts, f)
	}
	c.ledger.Add(ledger.Entry{Shards: facts, Streams: []ledger.Stream{{ARN: sr.arn, ListedAt: at}}})
	if len(facts) > 0 {
		if err := c.flushLedger(ctx); err != nil {
			return err
		}
		for _, f := range facts {
			sr.recorded[f.ID] = true
		}
	}
	sr.listedAt = at
	return nil
}

// allClosed reports whether every listed shard is closed: a disabled stream.
func (sr *streamRun) allClosed() bool {
	all := sr.lineage.Shards()
	for _, s := range all {
		if s.Open() {
			return false
		}
	}
	return len(all) > 0
}

// allFinished reports whether every listed shard was read to its end.
func (sr *streamRun) allFinished(list []shards.Shard) bool {
	for _, s := range list {
		if !sr.positions[s.ID].Finished {
			return false
		}
	}
	return true
}

// checkReplaced asks DynamoDB for the table's stream; a new one is captured from then on,
// beside the old one, which is drained.
func (r *run) checkReplaced(ctx context.Context) {
	c := r.c
	s, err := c.reader("", "").StreamOf(ctx, c.tables, c.cfg.Table)
	switch {
	case errors.Is(err, shards.ErrNoStream):
		c.log.Warn("the table's stream is disabled: nothing new is captured until it is enabled again")
		return
	case err != nil:
		c.log.Warn("could not look up the table's stream; will retry", "err", err)
		return
	case s.StreamARN == r.current:
		return
	}
	c.log.Warn("the table's stream was replaced; capturing the new one and reading what is left of the old one; take a new snapshot: restores across the change need one",
		"old_stream", r.current, "stream", s.StreamARN)
	r.streams[r.current].draining = true
	r.current = s.StreamARN
	r.addStream(s.StreamARN, s.ViewType, nil)
}

// streamGone records that a replaced stream vanished (more than 24 hours after it was
// disabled) before its shards were read to their ends: what they still held is lost.
func (r *run) streamGone(ctx context.Context, sr *streamRun) error {
	c := r.c
	now := c.now().UTC()
	seen := map[string]bool{}
	for id := range sr.recorded {
		seen[id] = true
	}
	for id := range sr.positions {
		seen[id] = true
	}
	ids := make([]string, 0, len(seen))
	for id := range seen {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		p := sr.positions[id]
		if p.Finished {
			continue
		}
		if err := r.recordLost(ctx, sr, p, id, now, ledger.CauseVanished, "the replaced stream expired before this shard was read to its end"); err != nil {
			return err
		}
	}
	delete(r.streams, sr.arn)
	return nil
}

// recordVanished turns shards that were checkpointed but not finished and are no longer
// listed (trimmed by retention while ddbtape was down) into recorded gaps, so that they
// no longer hold back the covered window and no restore pretends continuity across them.
func (r *run) recordVanished(ctx context.Context, sr *streamRun, list []shards.Shard) error {
	listed := make(map[string]bool, len(list))
	for _, s := range list {
		listed[s.ID] = true
	}
	ids := make([]string, 0, len(sr.positions))
	for id := range sr.positions {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		p := sr.positions[id]
		if p.Finished || listed[id] {
			continue
		}
		if err := r.recordLost(ctx, sr, p, id, r.c.now().UTC(), ledger.CauseVanished, "shard was trimmed from the stream before it was read to its end"); err != nil {
			return err
		}
	}
	return nil
}

// recordLost records that shard id is gone with records after its position: a gap in
// the ledger and the checkpoint store, and the shard ended so it holds nothing back.
func (r *run) recordLost(ctx context.Context, sr *streamRun, p checkpoint.Position, id string, now time.Time, cause, reason string) error {
	c := r.c
	from := p.CoveredUntil
	if p.LastRecordTime.After(from) {
		from = p.LastRecordTime
	}
	c.ledger.Add(ledger.Entry{
		Gaps:  []ledger.Gap{{StreamARN: sr.arn, ShardID: id, From: from, To: now, Cause: cause, Reason: reason, DetectedAt: now, AfterSequence: p.SequenceNumber}},
		Marks: []ledger.Mark{{StreamARN: sr.arn, ShardID: id, From: p.CoveredFrom, Until: p.CoveredUntil, EndedBy: now, LastSequence: p.SequenceNumber, LastRecordTime: p.LastRecordTime}},
	})
	if err := c.flushLedger(ctx); err != nil {
		return err
	}
	gap := checkpoint.Gap{StreamARN: sr.arn, ShardID: id, AfterSequence: p.SequenceNumber, From: from, DetectedAt: now, Reason: reason}
	if err := c.store.AddGap(ctx, c.cfg.Table, gap); err != nil {
		return fmt.Errorf("record gap of shard %s: %w", id, err)
	}
	if p.ShardID == "" {
		p = checkpoint.Position{StreamARN: sr.arn, ShardID: id}
	}
	p.Finished, p.UpdatedAt = true, now
	if err := c.store.Save(ctx, c.cfg.Table, p); err != nil {
		return fmt.Errorf("save checkpoint of shard %s: %w", id, err)
	}
	sr.positions[id] = p
	c.metrics.gaps.Add(1)
	c.cfg.Metrics.Gap(c.cfg.Table, id, cause)
	c.log.Error("gap in the backup: shard vanished before it was read to its end; take a new snapshot", "shard", id, "after_sequence", p.SequenceNumber)
	return nil
}
