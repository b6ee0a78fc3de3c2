package replicator

import (
	"time"
)

// report logs, at info level, what the capture has done so far and how far it has read:
// a running capture is otherwise silent while it works.
func (r *run) report() {
	c := r.c
	p := progressOf(c.now(), r.workers)
	attrs := []any{
		"records_read", c.metrics.records.Load(),
		"segments", c.metrics.segments.Load(),
		"shards_reading", p.reading,
	}
	if !p.readThrough.IsZero() {
		// Every shard read is read through this time (DynamoDB's clock less the stamp
		// margin): the restorable window, once a snapshot opens one, ends at most here
		// after the next ledger write.
		attrs = append(attrs, "read_through", p.readThrough.UTC().Format(time.RFC3339), "behind", p.behind.Round(time.Second))
	}
	if p.unread > 0 {
		attrs = append(attrs, "shards_not_caught_up", p.unread)
	}
	if g := c.metrics.gaps.Load(); g > 0 {
		attrs = append(attrs, "gaps", g)
	}
	c.log.Info("capturing", attrs...)
}

// progress is how far a capture's shard workers have read.
type progress struct {
	reading int
	// unread counts the shards that have not yet caught up with the stream once.
	unread int
	// readThrough is the least read-through time of the shards that have caught up, and
	// behind how far that trails the stream (less the stamp margin it trails by anyway).
	readThrough time.Time
	behind      time.Duration
}

// progressOf sums up workers at now; pure, so that it can be tested alone.
func progressOf(now time.Time, workers map[string]*shardWorker) progress {
	var p progress
	for _, w := range workers {
		p.reading++
		ns := w.covered.Load()
		if ns == 0 {
			p.unread++
			continue
		}
		if t := time.Unix(0, ns); p.readThrough.IsZero() || t.Before(p.readThrough) {
			p.readThrough = t
		}
	}
	if !p.readThrough.IsZero() {
		// readThrough trails DynamoDB's clock by the stamp margin by construction.
		p.behind = max(now.Sub(p.readThrough)-stampMargin, 0)
	}
	return p
}
