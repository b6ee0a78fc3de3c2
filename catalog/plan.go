package catalog

import (
	"sort"
	"time"

	"github.com/ddbtape/ddbtape/checkpoint"
	"github.com/ddbtape/ddbtape/writer"
)

// Snapshot is one snapshot directory of the listing.
type Snapshot struct {
	ID string
	// Manifest is nil while the snapshot is incomplete (no manifest was written, or the
	// scan is still running); such a snapshot is never used.
	Manifest *writer.Manifest
}

// Segment is one change segment of the listing.
type Segment struct {
	Key  string // object key in the bucket
	Size int64
	Name writer.SegmentName
}

// Listing is everything a plan looks at: what the bucket holds for a table and what its
// checkpoint records.
type Listing struct {
	Table      string
	Snapshots  []Snapshot
	Segments   []Segment
	Checkpoint checkpoint.Table
}

// Plan is how to rebuild the table at At.
type Plan struct {
	Table string
	At    time.Time
	// Snapshot is the base; its Manifest is never nil.
	Snapshot Snapshot
	// ReplayFrom is R: changes stamped in [ReplayFrom, At] are applied over the snapshot.
	ReplayFrom time.Time
	// Segments hold every change in that interval (and some before it), sorted by key.
	Segments []Segment
	Lineage  Lineage
	// Window is the restorable window At falls in.
	Window Window
}

// NewPlan picks the newest complete snapshot that finished at or before at and whose
// replay [R, at] is covered, and the segments to read. It returns a *CoverageError
// wrapping ErrNoCoverage when no snapshot qualifies. It does no I/O.
func NewPlan(l Listing, at time.Time) (Plan, error) {
	cov := newCoverage(l.Checkpoint)
	windows := windows(l, cov)
	cands := CompleteSnapshots(l.Snapshots)
	var firstErr *CoverageError
	for i := len(cands) - 1; i >= 0; i-- {
		s := cands[i]
		if s.Manifest.FinishedAt.After(at) {
			continue
		}
		r := ReplayFrom(s.Manifest.StartedAt)
		reason, shard, gap := cov.check(r, at)
		if reason == "" {
			p := Plan{
				Table:      l.Table,
				At:         at,
				Snapshot:   s,
				ReplayFrom: r,
				Segments:   selectSegments(l.Segments, r, at),
				Lineage:    NewLineage(l.Checkpoint),
			}
			for _, w := range windows {
				if w.Contains(at) {
					p.Window = w
				}
			}
			return p, nil
		}
		if firstErr == nil {
			firstErr = &CoverageError{At: at, From: r, Reason: reason, ShardID: shard, Gap: gap, Windows: windows}
		}
	}
	if firstErr != nil {
		return Plan{}, firstErr
	}
	reason := "no complete snapshot finished at or before it"
	if len(cands) == 0 {
		reason = "no complete snapshot exists: run ddbtape snapshot"
	}
	return Plan{}, &CoverageError{At: at, Reason: reason, Windows: windows}
}

// Windows returns the restorable windows of the listing, oldest first and disjoint: the
// union over complete snapshots S of [S.FinishedAt, the last covered T of S's replay].
func Windows(l Listing) []Window {
	return windows(l, newCoverage(l.Checkpoint))
}

// WindowEnd is the last restorable time, what --at now means; ok is false when nothing is
// restorable.
func WindowEnd(l Listing) (time.Time, bool) {
	ws := Windows(l)
	if len(ws) == 0 {
		return time.Time{}, false
	}
	return ws[len(ws)-1].Until, true
}

func windows(l Listing, cov coverage) []Window {
	var ws []Window
	for _, s := range CompleteSnapshots(l.Snapshots) {
		until, ok := cov.windowUntil(ReplayFrom(s.Manifest.StartedAt))
		if !ok || until.Before(s.Manifest.FinishedAt) {
			continue
		}
		ws = append(ws, Window{From: s.Manifest.FinishedAt, Until: until, SnapshotID: s.ID})
	}
	sort.Slice(ws, func(i, j int) bool { return ws[i].From.Before(ws[j].From) })
	var out []Window
	for _, w := range ws {
		if n := len(out); n > 0 && !w.From.After(out[n-1].Until) {
			if w.Until.After(out[n-1].Until) {
				out[n-1].Until = w.Until
			}
			continue
		}
		out = append(out, w)
	}
	return out
}

// ReplayFrom is R for a snapshot that started at started: its start less a stamp unit,
// because a change made just after the scan started can carry a stamp rounded down to
// before it. Changes stamped from R on are replayed over the snapshot.
func ReplayFrom(started time.Time) time.Time { return started.Add(-StampMargin) }

// CompleteSnapshots returns the snapshots with a manifest in the order the plan weighs
// them: oldest finish first, then start, then id.
func CompleteSnapshots(all []Snapshot) []Snapshot {
	var out []Snapshot
	for _, s := range all {
		if s.Manifest != nil {
			out = append(out, s)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i].Manifest, out[j].Manifest
		if !a.FinishedAt.Equal(b.FinishedAt) {
			return a.FinishedAt.Before(b.FinishedAt)
		}
		if !a.StartedAt.Equal(b.StartedAt) {
			return a.StartedAt.Before(b.StartedAt)
		}
		return out[i].ID < out[j].ID
	})
	return out
}

// selectSegments keeps the segments that may hold a change stamped in [r, at]. Per shard,
// in sequence order, a segment is skipped when the next one starts after it ends and in an
// hour partition before the hour of r (its records are all older than that next record),
// or when its own partition hour is after at's hour, each with a margin. Everything else
// is kept.
func selectSegments(all []Segment, r, at time.Time) []Segment {
	byShard := map[string][]Segment{}
	for _, s := range all {
		byShard[s.Name.ShardID] = append(byShard[s.Name.ShardID], s)
	}
	// A stamp margin of slack on both sides: stamps are approximate, and a record stamped
	// a little out of sequence order must not make its segment look safe to skip.
	rHour := r.Add(-StampMargin).UTC().Truncate(time.Hour)
	atHour := at.Add(StampMargin).UTC().Truncate(time.Hour)
	var out []Segment
	for _, segs := range byShard {
		sort.Slice(segs, func(i, j int) bool {
			a, b := segs[i].Name, segs[j].Name
			if fa, fb := writer.SequenceKey(a.FirstSeq), writer.SequenceKey(b.FirstSeq); fa != fb {
				return fa < fb
			}
			return writer.SequenceKey(a.LastSeq) < writer.SequenceKey(b.LastSeq)
		})
		for i, s := range segs {
			if s.Name.Hour.After(atHour) {
				continue
			}
			if i+1 < len(segs) {
				next := segs[i+1].Name
				if writer.SequenceKey(next.FirstSeq) > writer.SequenceKey(s.Name.LastSeq) && next.Hour.Before(rHour) {
					continue
				}
			}
			out = append(out, s)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}
