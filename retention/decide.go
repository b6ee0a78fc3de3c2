package retention

import (
	"sort"
	"time"

	"github.com/ddbtape/ddbtape/catalog"
)

// Incomplete is a snapshot directory without a manifest: a scan running or interrupted,
// a compaction running or failed, or a deletion interrupted.
type Incomplete struct {
	ID string
	// Started is when it began (from its id; else its oldest object's time).
	Started time.Time
	// Modified is its newest object's time.
	Modified time.Time
}

// Decision is what one run deletes, and why the rest stays.
type Decision struct {
	// Oldest is the oldest retained restore point: the earliest restorable time at or
	// after the horizon.
	Oldest time.Time
	// Base is the snapshot a restore at Oldest starts from; WindowStart is its finish,
	// where the restorable window starts once the run is done.
	Base        string
	WindowStart time.Time
	// KeepFrom is the earliest replay start of a kept snapshot: segments that may hold a
	// change stamped at or after it are kept.
	KeepFrom time.Time
	// Snapshots are the ids to delete, complete ones oldest first, then incomplete ones.
	Snapshots []string
	// Segments are the change segments to delete, by key.
	Segments []catalog.Segment
}

// Empty reports whether the decision deletes nothing.
func (d Decision) Empty() bool { return len(d.Snapshots) == 0 && len(d.Segments) == 0 }

// Decide says what to delete so that every restore point at or after horizon stays
// restorable (see the package doc). Incomplete snapshots whose newest object is older
// than staleBefore and that started before the base may go. ok is false when nothing is
// restorable at or after horizon: then nothing may be deleted. It does no I/O.
func Decide(l catalog.Listing, horizon time.Time, incomplete []Incomplete, staleBefore time.Time) (d Decision, ok bool) {
	oldest, ok := oldestRestorable(catalog.Windows(l), horizon)
	if !ok {
		return Decision{}, false
	}
	p, err := catalog.NewPlan(l, oldest)
	if err != nil {
		// Windows and NewPlan agree by construction; refuse to delete if they ever do not.
		return Decision{}, false
	}
	base := p.Snapshot.Manifest
	d = Decision{Oldest: oldest, Base: p.Snapshot.ID, WindowStart: base.FinishedAt, KeepFrom: catalog.ReplayFrom(base.StartedAt)}

	complete := catalog.CompleteSnapshots(l.Snapshots)
	kept := false
	for _, s := range complete {
		if s.ID == p.Snapshot.ID {
			kept = true
		}
		if !kept {
			d.Snapshots = append(d.Snapshots, s.ID)
			continue
		}
		if r := catalog.ReplayFrom(s.Manifest.StartedAt); r.Before(d.KeepFrom) {
			d.KeepFrom = r
		}
	}
	sorted := append([]Incomplete(nil), incomplete...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].ID < sorted[j].ID })
	for _, s := range sorted {
		if s.Modified.Before(staleBefore) && s.Started.Before(base.StartedAt) {
			d.Snapshots = append(d.Snapshots, s.ID)
			continue
		}
		// It may yet be completed (a resumed scan): its replay must stay possible.
		if r := catalog.ReplayFrom(s.Started); r.Before(d.KeepFrom) {
			d.KeepFrom = r
		}
	}
	d.Segments = deletableSegments(l, d.KeepFrom)
	return d, true
}

// oldestRestorable is the earliest restorable time at or after horizon.
func oldestRestorable(ws []catalog.Window, horizon time.Time) (time.Time, bool) {
	for _, w := range ws {
		if w.Until.Before(horizon) {
			continue
		}
		if w.From.After(horizon) {
			return w.From, true
		}
		return horizon, true
	}
	return time.Time{}, false
}

// deletableSegments returns the segments none of whose records can be stamped at or
// after keepFrom: those catalog.Listing.SegmentsBetween leaves out of every time range
// from keepFrom on, the one rule by which a restore from keepFrom skips segments.
func deletableSegments(l catalog.Listing, keepFrom time.Time) []catalog.Segment {
	keep := map[string]bool{}
	for _, s := range l.SegmentsBetween(keepFrom, endOfTime) {
		keep[s.Key] = true
	}
	var out []catalog.Segment
	for _, s := range l.Segments {
		if !keep[s.Key] {
			out = append(out, s)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

// endOfTime is later than any stamp.
var endOfTime = time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)
