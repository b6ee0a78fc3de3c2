package catalog

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/ddbtape/ddbtape/ledger"
	"github.com/ddbtape/ddbtape/shards"
	"github.com/ddbtape/ddbtape/writer"
)

// ErrNoCoverage means the backup cannot rebuild the table at the time asked for: no
// snapshot finished before it, a shard was not read far enough, or a gap lies across it.
var ErrNoCoverage = errors.New("the backup does not cover that time: pick a time inside a restorable window (ddbtape status lists them), or take a new snapshot")

// Window is a closed interval of restorable times.
type Window struct {
	From  time.Time `json:"from"`
	Until time.Time `json:"until"`
	// SnapshotID is the snapshot whose finish opens the window.
	SnapshotID string `json:"snapshot_id"`
}

func (w Window) String() string {
	first, last := w.Seconds()
	return fmt.Sprintf("%s to %s", first.Format(time.RFC3339Nano), last.Format(time.RFC3339Nano))
}

// Contains reports whether t is inside the window (both ends inclusive).
func (w Window) Contains(t time.Time) bool { return !t.Before(w.From) && !t.After(w.Until) }

// Seconds returns the window's ends as people paste them back into --at: the first and
// the last whole second inside it, or the exact ends when no whole second is.
func (w Window) Seconds() (first, last time.Time) {
	first = w.From.UTC().Truncate(time.Second)
	if first.Before(w.From) {
		first = first.Add(time.Second)
	}
	last = w.Until.UTC().Truncate(time.Second)
	if first.After(last) {
		return w.From.UTC(), w.Until.UTC()
	}
	return first, last
}

// CoverageError says why [From, At] cannot be restored. It wraps ErrNoCoverage.
type CoverageError struct {
	At   time.Time
	From time.Time // R, the start of the replay; zero when no snapshot qualified
	// Reason is one clause naming the shard or gap at fault.
	Reason  string
	ShardID string
	Gap     *ledger.Gap
	Windows []Window
}

func (e *CoverageError) Error() string {
	var b strings.Builder
	if e.From.IsZero() {
		fmt.Fprintf(&b, "cannot restore at %s: %s", formatTime(e.At), e.Reason)
	} else {
		fmt.Fprintf(&b, "cannot restore at %s: replay from %s to %s is not covered: %s", formatTime(e.At), formatTime(e.From), formatTime(e.At), e.Reason)
	}
	b.WriteString("; ")
	b.WriteString(describeWindows(e.Windows))
	return b.String()
}

func (e *CoverageError) Unwrap() error { return ErrNoCoverage }

func describeWindows(ws []Window) string {
	if len(ws) == 0 {
		return "nothing is restorable yet (a complete snapshot and a capture that has caught up are needed)"
	}
	parts := make([]string, len(ws))
	for i, w := range ws {
		parts[i] = w.String()
	}
	if len(ws) == 1 {
		return "restorable window: " + parts[0]
	}
	return "restorable windows: " + strings.Join(parts, ", ")
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
	// Window is the restorable window At falls in (zero for a snapshot restored alone).
	Window Window
	// Region is the region whose stream the backup holds ("" when unknown): every change
	// replayed must come from that region's stream.
	Region string
}

// NewPlan picks the newest complete snapshot that finished at or before at and whose
// replay [R, at] is covered, and the segments to read. It returns a *CoverageError
// wrapping ErrNoCoverage when no snapshot qualifies. It does no I/O.
func NewPlan(l Listing, at time.Time) (Plan, error) {
	region, err := l.Region()
	if err != nil {
		return Plan{}, err
	}
	m := newModel(l.Ledger)
	ws := windows(l, m)
	cands := CompleteSnapshots(l.Snapshots)
	var firstErr *CoverageError
	otherRegion := 0
	for i := len(cands) - 1; i >= 0; i-- {
		s := cands[i]
		if s.Manifest.FinishedAt.After(at) {
			continue
		}
		if !ofRegion(s.Manifest, region) {
			otherRegion++
			continue
		}
		r := ReplayFrom(s.Manifest.StartedAt)
		if e := m.end(r, s.Manifest.StartedAt); !e.at.Before(at) {
			p := Plan{Table: l.Table, At: at, Snapshot: s, ReplayFrom: r, Segments: l.SegmentsBetween(r, at), Lineage: NewLineage(l.Ledger), Region: region}
			for _, w := range ws {
				if w.Contains(at) {
					p.Window = w
				}
			}
			return p, nil
		} else if firstErr == nil {
			firstErr = &CoverageError{At: at, From: r, Reason: e.reason, ShardID: e.shard, Gap: e.gap, Windows: ws}
		}
	}
	if firstErr != nil {
		return Plan{}, firstErr
	}
	reason := "no complete snapshot finished at or before it"
	switch {
	case len(cands) == 0:
		reason = "no complete snapshot exists: run ddbtape snapshot"
	case otherRegion > 0:
		reason = fmt.Sprintf("no complete snapshot of region %s finished at or before it (%d of another region's replica cannot be combined with this region's stream): run ddbtape snapshot against region %s", region, otherRegion, region)
	}
	return Plan{}, &CoverageError{At: at, Reason: reason, Windows: ws}
}

// SnapshotPlan restores snapshot id alone, at its finish, with no change replayed: how a
// snapshot of a table without a usable stream is restored. Its items are those the scan
// read, whatever moment of the scan read each one.
func SnapshotPlan(l Listing, id string) (Plan, error) {
	for _, s := range l.Snapshots {
		if s.ID != id {
			continue
		}
		if s.Manifest == nil {
			return Plan{}, fmt.Errorf("snapshot %s is incomplete (it has no manifest): pick a complete one (ddbtape status lists them)", id)
		}
		t := s.Manifest.FinishedAt
		return Plan{Table: l.Table, At: t, Snapshot: s, ReplayFrom: t.Add(time.Millisecond), Lineage: NewLineage(l.Ledger), Region: s.Manifest.Region}, nil
	}
	return Plan{}, fmt.Errorf("no snapshot %s of table %s: pick one that ddbtape status lists", id, l.Table)
}

// Windows returns the restorable windows of the listing, oldest first and disjoint: the
// union over complete snapshots S of [S.FinishedAt, the last covered T of S's replay].
func Windows(l Listing) []Window { return windows(l, newModel(l.Ledger)) }

// WindowEnd is the last restorable time, what --at now means; ok is false when nothing is
// restorable.
func WindowEnd(l Listing) (time.Time, bool) {
	ws := Windows(l)
	if len(ws) == 0 {
		return time.Time{}, false
	}
	return ws[len(ws)-1].Until, true
}

func windows(l Listing, m model) []Window {
	region, err := l.Region()
	if err != nil {
		return nil // NewPlan says why
	}
	var ws []Window
	for _, s := range CompleteSnapshots(l.Snapshots) {
		if !ofRegion(s.Manifest, region) {
			continue
		}
		e := m.end(ReplayFrom(s.Manifest.StartedAt), s.Manifest.StartedAt)
		if e.at.Before(s.Manifest.FinishedAt) {
			continue
		}
		ws = append(ws, Window{From: s.Manifest.FinishedAt, Until: e.at, SnapshotID: s.ID})
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

// SegmentsBetween returns the segments that may hold a change stamped in [from, to]:
// the one selection the plan, retention and any query over a time range use. Per shard,
// in sequence order, a segment is left out when the next one starts after it ends in an
// hour partition before from's hour (its records are all older than that next record),
// when it holds the shard's last stored record and the ledger stamps that record before
// from, or when its own partition hour is after to's hour; each with a StampMargin to
// spare. Everything else is kept: reading an extra segment costs time, missing one is
// wrong.
func (l Listing) SegmentsBetween(from, to time.Time) []Segment {
	byShard := map[string][]Segment{}
	for _, s := range l.Segments {
		byShard[s.Name.ShardID] = append(byShard[s.Name.ShardID], s)
	}
	last := lastRecords(l.Ledger)
	// A stamp margin of slack on both sides: stamps are approximate, and a record stamped
	// a little out of sequence order must not make its segment look safe to skip.
	fromHour := from.Add(-StampMargin).UTC().Truncate(time.Hour)
	toHour := to.Add(StampMargin).UTC().Truncate(time.Hour)
	var out []Segment
	for shard, segs := range byShard {
		sort.Slice(segs, func(i, j int) bool {
			a, b := segs[i].Name, segs[j].Name
			if fa, fb := shards.SequenceNumber(a.FirstSeq).Key(), shards.SequenceNumber(b.FirstSeq).Key(); fa != fb {
				return fa < fb
			}
			return shards.SequenceNumber(a.LastSeq).Key() < shards.SequenceNumber(b.LastSeq).Key()
		})
		for i, s := range segs {
			if s.Name.Hour.After(toHour) {
				continue
			}
			if i+1 < len(segs) {
				next := segs[i+1].Name
				if shards.SequenceNumber(next.FirstSeq).Key() > shards.SequenceNumber(s.Name.LastSeq).Key() && next.Hour.Before(fromHour) {
					continue
				}
			} else if lr, ok := last[shard]; ok && holdsSequence(s.Name, lr.seq) && lr.stamp.Add(StampMargin).Before(from) {
				continue
			}
			out = append(out, s)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

type lastRecord struct {
	seq   string
	stamp time.Time
}

// lastRecords is each shard's last stored record as the ledger knows it.
func lastRecords(st ledger.State) map[string]lastRecord {
	out := map[string]lastRecord{}
	for k, c := range st.Coverage {
		if c.LastSequence != "" && !c.LastRecordTime.IsZero() {
			out[k.Shard] = lastRecord{seq: c.LastSequence, stamp: c.LastRecordTime}
		}
	}
	return out
}

// holdsSequence reports whether the segment's sequence range holds seq.
func holdsSequence(n writer.SegmentName, seq string) bool {
	if seq == "" || strings.Trim(seq, "0123456789") != "" {
		return false
	}
	k := shards.SequenceNumber(seq).Key()
	return shards.SequenceNumber(n.FirstSeq).Key() <= k && k <= shards.SequenceNumber(n.LastSeq).Key()
}
