package replicator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/ddbtape/ddbtape/checkpoint"
	ckdynamo "github.com/ddbtape/ddbtape/checkpoint/dynamodb"
	"github.com/ddbtape/ddbtape/ddbjson"
	"github.com/ddbtape/ddbtape/ledger"
	"github.com/ddbtape/ddbtape/shards"
	"github.com/ddbtape/ddbtape/writer"
)

// defaultFlushTimeout bounds the final flush after reading stopped (SIGTERM, idle,
// failure): long enough for a slow object store, short enough for a pod's grace period.
const defaultFlushTimeout = 2 * time.Minute

// shardWorker reads one shard into segments and checkpoints each segment once it is
// durable. It is owned by Capture.Run and ends when its shard ends or reading stops.
type shardWorker struct {
	c      *Capture
	stream *streamRun
	shard  shards.Shard
	mode   readMode
	log    *slog.Logger
	// lease is this shard's lease when shards are shared among workers (nil otherwise).
	lease *ckdynamo.Lease

	// pos is what the store holds for this shard: it only moves after a segment is
	// durable. It and lastSave belong to the storer while it runs (store.go); handle
	// reads them only after a flush that waited for the storer.
	pos checkpoint.Position
	// st stores the segments handle rolls, behind the reading (store.go).
	st  *storer
	seg *writer.Segment
	// queuedCovered and lastQueued are what handle knows of the last job it queued: the
	// coverage it will save, and when it was queued.
	queuedCovered time.Time
	lastQueued    time.Time
	// pendingSeq and pendingTime describe the last record in seg (not yet durable).
	pendingSeq  string
	pendingTime time.Time
	// readThrough is how far the latest poll that found the open shard caught up covers
	// it (DynamoDB's clock less a stamp margin): every record stamped before it has been
	// appended to seg or stored.
	readThrough time.Time
	lastSave    time.Time
	// polled is set once the first answer came: the session's coverage start is known.
	polled bool
	// gone is set when the shard vanished before its end (its End batch is a loss).
	gone bool
	// ended is set once the shard's last batch came: the next flush saves it finished.
	ended   bool
	endedBy time.Time

	// idleSince is the wall clock (unix nanos) of the first of the current run of empty
	// polls, 0 while records flow or before the first poll answered; read by the
	// coordinator for --until-idle. A shard stuck in retries is not idle.
	idleSince atomic.Int64
	// idleServer is DynamoDB's clock (unix nanos) at that first empty poll, and covered
	// readThrough (unix nanos; the final flush saves it): an idle shard counts as idle for
	// --until-idle only once its coverage reached the start of its idleness, so that
	// everything written before it went quiet is restorable when capture exits.
	idleServer, covered atomic.Int64
	records             atomic.Int64
}

func (w *shardWorker) idleFor(now time.Time) time.Duration {
	since := w.idleSince.Load()
	if since != 0 && w.covered.Load() < w.idleServer.Load() {
		return 0
	}
	if !w.shard.Open() || since == 0 {
		return 0 // closed shards are read at full speed and end by themselves
	}
	return now.Sub(time.Unix(0, since))
}

// run reads the shard until it ends or ctx is cancelled, then stores and checkpoints what
// it read. It returns nil when the shard was read to its end or reading was stopped.
func (w *shardWorker) run(ctx context.Context) error {
	w.seg = writer.NewSegment(w.c.spoolDir)
	defer func() { w.seg.Discard() }()
	w.queuedCovered = w.pos.CoveredUntil
	w.startStorer()
	defer w.stopStorer()
	rec := w.c.cfg.Metrics
	rec.ShardStarted(w.c.cfg.Table, w.shard.ID)
	defer rec.ShardStopped(w.c.cfg.Table, w.shard.ID)

	after, start := w.pos.SequenceNumber, shards.TrimHorizon
	if w.mode == readLatest {
		start = shards.Latest
	}
	readErr := w.c.reader(w.stream.arn, w.shard.ID).Read(ctx, w.shard, after, start, w.handle)
	failed := w.stopStorer()
	if failed != nil && failed.seg != nil {
		defer failed.seg.Discard()
	}
	if errors.Is(readErr, errEnded) || w.lostLease(ctx, readErr) {
		return nil
	}
	// Whatever was read is valid stream data: store it before stopping, even when the
	// reader failed, so a restart re-reads as little as possible: first a segment the
	// storer could not store (a stop cut its retries short, say), then the open one.
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), w.c.cfg.FlushTimeout)
	defer cancel()
	err := error(nil)
	if failed != nil {
		failed.ctx = fctx
		err = w.store(failed)
	}
	if err == nil {
		j := w.job(fctx)
		err = w.store(&j)
	}
	if err != nil {
		if readErr != nil && !errors.Is(readErr, context.Canceled) {
			return errors.Join(readErr, err)
		}
		return err
	}
	if readErr != nil && !errors.Is(readErr, context.Canceled) {
		return fmt.Errorf("read shard %s: %w", w.shard.ID, readErr)
	}
	return nil
}

// errEnded tells run that handle already stored and checkpointed the shard's end.
var errEnded = errors.New("shard ended")

// handle is the reader's Handler: append records, roll segments, note coverage.
func (w *shardWorker) handle(ctx context.Context, b shards.Batch) error {
	now := w.c.now()
	server := b.ServerTime
	if server.IsZero() {
		server = b.PolledAt.UTC()
	}
	if !w.polled {
		w.polled = true
		if err := w.beginSession(ctx, server); err != nil {
			return err
		}
	}
	if b.Trimmed {
		if err := w.recordGap(ctx, server, b.End); err != nil {
			return err
		}
	}
	for i, r := range b.Records {
		var im *ddbjson.Images
		if b.Images != nil {
			im = &b.Images[i]
		}
		ch, err := toChange(w.c.cfg.Table, w.stream.arn, w.shard.ID, r, im, now)
		if err != nil {
			return err
		}
		if err := w.seg.Append(ch); err != nil {
			return fmt.Errorf("shard %s: %w", w.shard.ID, err)
		}
		w.pendingSeq, w.pendingTime = ch.SequenceNumber, ch.ApproximateCreationTime
		// Roll inside a batch too: a GetRecords page holds up to 1,000 records, and the
		// roll settings, not the page size, bound a segment.
		if w.seg.Due(w.c.cfg.Roll, now) {
			if err := w.roll(ctx); err != nil {
				return err
			}
		}
	}
	if n := len(b.Records); n > 0 {
		var size int64
		for _, r := range b.Records {
			if r.Dynamodb != nil && r.Dynamodb.SizeBytes != nil {
				size += *r.Dynamodb.SizeBytes
			}
		}
		w.c.cfg.Metrics.RecordsCaptured(w.c.cfg.Table, w.shard.ID, n, size, w.pendingTime)
		w.idleSince.Store(0)
		w.records.Add(int64(n))
		w.c.metrics.records.Add(int64(n))
	} else if !b.End && !b.Trimmed && w.shard.Open() {
		// Caught up on an open shard: every write DynamoDB had made visible by its clock
		// is read. Closed shards may answer empty pages before their end; those prove
		// nothing.
		w.readThrough = server.Add(-stampMargin)
		w.covered.Store(w.readThrough.UnixNano())
		if w.idleSince.CompareAndSwap(0, now.UnixNano()) {
			w.idleServer.Store(server.UnixNano())
		}
		w.c.cfg.Metrics.ShardCaughtUp(w.c.cfg.Table, w.shard.ID, b.PolledAt)
	}

	switch {
	case b.End:
		w.endedBy, w.ended = server, true
		if err := w.flush(ctx); err != nil {
			return err
		}
		w.log.Info("shard finished", "records", w.records.Load())
		return errEnded
	case w.seg.Len() > 0 && w.seg.Due(w.c.cfg.Roll, now):
		return w.roll(ctx)
	case w.seg.Len() == 0 && w.readThrough.After(w.queuedCovered) && now.Sub(w.lastQueued) >= w.c.cfg.CoverageInterval:
		// Nothing pending: the empty poll alone moves the covered edge forward, so that
		// "--at now" reaches close to the present on a quiet table.
		return w.roll(ctx)
	}
	return nil
}

// store makes job j's segment durable, then saves the checkpoint it allows. The order is
// the pipeline's rule: the checkpoint never moves past a record that is not durably
// stored.
//
// A stop (j.ctx cancelled) ends the retries' waits, never a write in flight: a write cut
// off midway may still take effect with its outcome unknown, and a checkpoint saved that
// way would make the final flush's save of the older position fail as moving backwards.
// Each attempt is bounded by FlushTimeout instead.
func (w *shardWorker) store(j *storeJob) error {
	ctx := j.ctx
	next := w.pos
	next.Finished = next.Finished || j.ended
	if j.seg != nil && j.seg.Len() > 0 && !j.stored {
		var stored writer.StoredSegment
		rows, size := j.seg.Len(), j.seg.Bytes()
		err := w.c.retry(ctx, w.log, "segment", w.whole(ctx, func(ctx context.Context) (err error) {
			stored, err = writer.Flush(ctx, w.c.bucket, j.seg)
			return err
		}))
		if err != nil {
			return fmt.Errorf("store segment of shard %s (checkpoint not advanced): %w", w.shard.ID, err)
		}
		// The segment is durable: its size and SHA-256 go into the ledger with the next
		// flush, beside the mark that claims its records, for readers to check it by.
		w.c.ledger.Add(ledger.Entry{Objects: []ledger.Object{{Key: stored.Name.Key(), Size: stored.Size, SHA256: stored.SHA256}}})
		w.log.Debug("segment stored", "key", stored.Name.Key(), "records", rows, "sha256", stored.SHA256)
		w.c.metrics.segments.Add(1)
		w.c.cfg.Metrics.SegmentWritten(w.c.cfg.Table, rows, size)
		// Tried again (its checkpoint failed), the job is not stored a second time.
		j.stored = true
	}
	if j.stored {
		next.SequenceNumber, next.LastRecordTime = j.seq, j.lastRecordTime
	}
	next.CoveredUntil = coveredUntil(next.CoveredUntil, j.readThrough, next.LastRecordTime)
	if next == w.pos && !w.lastSave.IsZero() {
		return nil
	}
	next.UpdatedAt = w.c.now().UTC()
	save := func(ctx context.Context) error { return w.checkpoints().Save(ctx, w.c.cfg.Table, next) }
	if err := w.c.retry(ctx, w.log, "checkpoint", w.whole(ctx, save)); err != nil {
		return fmt.Errorf("save checkpoint of shard %s: %w", w.shard.ID, err)
	}
	w.pos, w.lastSave = next, w.c.now()
	w.c.cfg.Metrics.CheckpointSaved(w.c.cfg.Table, w.shard.ID, next.UpdatedAt)
	w.claim(j)
	return nil
}

// claim adds to the ledger what the saved position proves: every record of the shard
// stamped from the session's start until its coverage is stored (to its end once
// finished). It is written with the next ledger flush.
func (w *shardWorker) claim(j *storeJob) {
	p := w.pos
	if p.CoveredFrom.IsZero() {
		return
	}
	m := ledger.Mark{StreamARN: w.stream.arn, ShardID: w.shard.ID, From: p.CoveredFrom, Until: p.CoveredUntil,
		LastSequence: p.SequenceNumber, LastRecordTime: p.LastRecordTime}
	if p.Finished {
		m.EndedBy = j.endedBy
		m.Finished = !j.gone
	}
	w.c.ledger.Add(ledger.Entry{Marks: []ledger.Mark{m}})
}

// beginSession sets where the session's coverage starts, at the first answer (server is
// DynamoDB's clock then). A new session read from the trim horizon covers the last 24
// hours, never from before its stream existed; one read from LATEST from now on. A shard
// resumed without a sequence number (nothing stored of it yet) after being unread for
// nearly the retention cannot prove that nothing expired meanwhile: that is a gap.
func (w *shardWorker) beginSession(ctx context.Context, server time.Time) error {
	p := &w.pos
	if p.Finished {
		return nil
	}
	fresh := func() time.Time {
		if w.mode == readLatest {
			return server.Add(stampMargin)
		}
		from := server.Add(-streamRetention)
		if from.Before(w.stream.start) {
			from = w.stream.start
		}
		return from
	}
	if p.CoveredFrom.IsZero() {
		p.CoveredFrom = fresh()
		return nil
	}
	if p.SequenceNumber != "" {
		return nil // GetShardIterator after it fails if what follows was trimmed
	}
	last := p.CoveredFrom
	if p.CoveredUntil.After(last) {
		last = p.CoveredUntil
	}
	if server.Sub(last) < continuityLimit {
		return nil
	}
	reason := fmt.Sprintf("the shard was last known covered at %s, more than %s before this read: records in between may have expired unread",
		last.Format(time.RFC3339), continuityLimit)
	if err := w.addGap(ctx, last, server, ledger.CauseContinuity, reason); err != nil {
		return err
	}
	p.CoveredFrom, p.CoveredUntil = fresh(), time.Time{}
	w.queuedCovered = time.Time{}
	return nil
}

// whole returns one attempt of write, run to its end whether or not ctx is cancelled
// meanwhile (see flush), within FlushTimeout.
func (w *shardWorker) whole(ctx context.Context, write func(context.Context) error) func() error {
	return func() error {
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), w.c.cfg.FlushTimeout)
		defer cancel()
		return write(actx)
	}
}

// coveredUntil is how far a shard is known to be stored: the later of what was known, the
// last poll that found the shard caught up (readThrough), and just before the stamp of
// the last stored record. Records of a shard come in order and their stamps never go
// down, so every record stamped before the last stored one is stored too; without this,
// a shard written faster than it is polled would never move the window's end.
func coveredUntil(known, readThrough, lastStored time.Time) time.Time {
	if readThrough.After(known) {
		known = readThrough
	}
	if !lastStored.IsZero() {
		if before := lastStored.Add(-time.Millisecond); before.After(known) {
			known = before
		}
	}
	return known
}

// recordGap stores what was read so far, then records that records after it were lost:
// trimmed by the retention, or, with end, the whole shard gone. Reading goes on from the
// oldest record still kept, a new session covering the last 24 hours.
func (w *shardWorker) recordGap(ctx context.Context, server time.Time, end bool) error {
	if err := w.flush(ctx); err != nil {
		return err
	}
	from := w.pos.CoveredUntil
	if w.pos.LastRecordTime.After(from) {
		from = w.pos.LastRecordTime
	}
	cause, reason := ledger.CauseTrimmed, "records trimmed from the stream before they were read (24-hour retention)"
	if end {
		cause, reason = ledger.CauseVanished, "the shard was gone from the stream before it was read to its end"
		w.gone = true
	}
	if err := w.addGap(ctx, from, server, cause, reason); err != nil {
		return err
	}
	if !end {
		from := server.Add(-streamRetention)
		if from.Before(w.stream.start) {
			from = w.stream.start
		}
		w.pos.CoveredFrom, w.pos.CoveredUntil, w.readThrough = from, time.Time{}, time.Time{}
		w.queuedCovered = time.Time{}
	}
	return nil
}

// addGap records a gap (from, to] of this shard in the ledger, at once, and in the
// checkpoint store, and says so.
func (w *shardWorker) addGap(ctx context.Context, from, to time.Time, cause, reason string) error {
	w.c.ledger.Add(ledger.Entry{Gaps: []ledger.Gap{{StreamARN: w.stream.arn, ShardID: w.shard.ID, From: from, To: to, Cause: cause,
		Reason: reason, DetectedAt: to, AfterSequence: w.pos.SequenceNumber}}})
	if err := w.c.flushLedger(ctx); err != nil {
		return err
	}
	gap := checkpoint.Gap{StreamARN: w.stream.arn, ShardID: w.shard.ID, AfterSequence: w.pos.SequenceNumber, From: from, DetectedAt: to, Reason: reason}
	if err := w.c.store.AddGap(ctx, w.c.cfg.Table, gap); err != nil {
		return fmt.Errorf("record gap of shard %s: %w", w.shard.ID, err)
	}
	w.c.metrics.gaps.Add(1)
	w.c.cfg.Metrics.Gap(w.c.cfg.Table, w.shard.ID, cause)
	w.log.Error("gap in the backup: restores across it will fail until a new snapshot is taken ('ddbtape status' lists it)",
		"cause", cause, "reason", reason, "after_sequence", gap.AfterSequence, "from", from, "to", to)
	return nil
}
