package replicator

import (
	"context"
	"time"

	"github.com/ddbtape/ddbtape/writer"
)

// A shard's segments are stored behind its reading: handle rolls a full segment into a
// job and reads on into a new one while the shard's storer makes the job durable and
// then saves the checkpoint it allows. Jobs are stored one at a time, in order, so a
// checkpoint only moves over stored records; handle waits when the storer is still
// busy with the previous segment, so at most one segment is stored while the next
// fills.

// storeJob is one segment to store and the checkpoint that follows it, as handle saw
// the shard when it rolled.
type storeJob struct {
	// ctx bounds the retries of the job (a stop ends their waits, never a write).
	ctx context.Context
	// seg is nil (or empty) for a checkpoint of coverage alone.
	seg            *writer.Segment
	seq            string
	lastRecordTime time.Time
	readThrough    time.Time
	ended, gone    bool
	endedBy        time.Time
	// done, when set, hears the job's outcome (a flush that waits).
	done chan error
	// stored is set once seg is durable (the checkpoint may still have failed).
	stored bool
}

// storer is the goroutine that stores one shard's jobs.
type storer struct {
	jobs    chan storeJob
	stopped chan struct{}
	// err and failed are the job that failed, its segment kept for the final flush; set
	// before stopped is closed.
	err    error
	failed *storeJob
}

func (w *shardWorker) startStorer() {
	st := &storer{jobs: make(chan storeJob), stopped: make(chan struct{})}
	w.st = st
	go func() {
		defer close(st.stopped)
		for j := range st.jobs {
			err := w.store(&j)
			if j.done != nil {
				j.done <- err
			}
			if err != nil {
				st.err, st.failed = err, &j
				return
			}
		}
	}()
}

// stopStorer waits for the storer to end, and returns the job it failed on, if any
// (owned by the caller now). Calling it again returns nil.
func (w *shardWorker) stopStorer() *storeJob {
	st := w.st
	if st == nil {
		return nil
	}
	w.st = nil
	close(st.jobs)
	<-st.stopped
	return st.failed
}

// job is what handle has read since the last roll, to store with ctx.
func (w *shardWorker) job(ctx context.Context) storeJob {
	j := storeJob{ctx: ctx, readThrough: w.readThrough, ended: w.ended, gone: w.gone, endedBy: w.endedBy}
	if w.seg.Len() > 0 {
		j.seg, j.seq, j.lastRecordTime = w.seg, w.pendingSeq, w.pendingTime
	}
	return j
}

// roll hands what was read since the last roll to the storer, and goes on into a new
// segment. It waits only while the storer is busy with the previous job; it fails when
// the storer failed (the segment stays with handle for the final flush).
func (w *shardWorker) roll(ctx context.Context) error {
	return w.queue(w.job(ctx))
}

// flush rolls and waits until everything read is stored and checkpointed: the storer is
// then idle, and handle may read and change pos.
func (w *shardWorker) flush(ctx context.Context) error {
	j := w.job(ctx)
	j.done = make(chan error, 1)
	if err := w.queue(j); err != nil {
		return err
	}
	return <-j.done
}

func (w *shardWorker) queue(j storeJob) error {
	select {
	case w.st.jobs <- j:
	case <-w.st.stopped:
		return w.st.err
	}
	if j.seg != nil {
		w.seg = writer.NewSegment(w.c.spoolDir)
	}
	w.queuedCovered = coveredUntil(w.queuedCovered, j.readThrough, j.lastRecordTime)
	w.lastQueued = w.c.now()
	return nil
}
