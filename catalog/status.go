package catalog

import (
	"sort"
	"time"

	"github.com/ddbtape/ddbtape/checkpoint"
)

// Status is what a backup holds and what it can restore, for ddbtape status.
type Status struct {
	Table     string           `json:"table"`
	Snapshots []SnapshotStatus `json:"snapshots"`
	// Windows are the restorable windows, oldest first; Earliest and Latest their ends
	// (zero when nothing is restorable).
	Windows  []Window         `json:"windows"`
	Earliest time.Time        `json:"earliest,omitzero"`
	Latest   time.Time        `json:"latest,omitzero"`
	Shards   []ShardStatus    `json:"shards"`
	Gaps     []checkpoint.Gap `json:"gaps"`
	// LastChange is the stamp of the newest change stored, per the checkpoint.
	LastChange   time.Time `json:"last_change,omitzero"`
	Segments     int       `json:"segments"`
	SegmentBytes int64     `json:"segment_bytes"`
}

// SnapshotStatus is one snapshot.
type SnapshotStatus struct {
	ID         string    `json:"id"`
	Complete   bool      `json:"complete"`
	StartedAt  time.Time `json:"started_at,omitzero"`
	FinishedAt time.Time `json:"finished_at,omitzero"`
	Items      int64     `json:"items"`
	Parts      int       `json:"parts"`
	Bytes      int64     `json:"bytes"`
}

// ShardStatus is one shard's checkpoint.
type ShardStatus struct {
	checkpoint.Position
	// Leaf is true for a shard of the newest stream without a child: one that holds the
	// window end.
	Leaf bool `json:"leaf"`
}

// Summarize describes a listing. It does no I/O.
func Summarize(l Listing) Status {
	st := Status{Table: l.Table, Windows: Windows(l), Gaps: l.Checkpoint.Gaps, Segments: len(l.Segments)}
	if st.Windows == nil {
		st.Windows = []Window{}
	}
	if st.Gaps == nil {
		st.Gaps = []checkpoint.Gap{}
	}
	if n := len(st.Windows); n > 0 {
		st.Earliest, st.Latest = st.Windows[0].From, st.Windows[n-1].Until
	}
	for _, s := range l.Snapshots {
		ss := SnapshotStatus{ID: s.ID, Complete: s.Manifest != nil}
		if m := s.Manifest; m != nil {
			ss.StartedAt, ss.FinishedAt, ss.Items, ss.Parts = m.StartedAt, m.FinishedAt, m.ItemCount, len(m.Parts)
			for _, p := range m.Parts {
				ss.Bytes += p.Bytes
			}
		}
		st.Snapshots = append(st.Snapshots, ss)
	}
	sort.SliceStable(st.Snapshots, func(i, j int) bool {
		a, b := st.Snapshots[i], st.Snapshots[j]
		if a.Complete != b.Complete {
			return a.Complete
		}
		if !a.FinishedAt.Equal(b.FinishedAt) {
			return a.FinishedAt.Before(b.FinishedAt)
		}
		return a.ID < b.ID
	})
	if st.Snapshots == nil {
		st.Snapshots = []SnapshotStatus{}
	}
	for _, s := range l.Segments {
		st.SegmentBytes += s.Size
	}
	newest := ""
	hasChild := map[string]bool{}
	for _, p := range l.Checkpoint.Shards {
		if newest == "" || newerStream(p.StreamARN, newest) {
			newest = p.StreamARN
		}
		if p.ParentShardID != "" {
			hasChild[p.ParentShardID] = true
		}
		if p.LastRecordTime.After(st.LastChange) {
			st.LastChange = p.LastRecordTime
		}
	}
	st.Shards = []ShardStatus{}
	for id, p := range l.Checkpoint.Shards {
		st.Shards = append(st.Shards, ShardStatus{Position: p, Leaf: p.StreamARN == newest && !hasChild[id]})
	}
	sort.Slice(st.Shards, func(i, j int) bool {
		a, b := st.Shards[i], st.Shards[j]
		if a.StreamARN != b.StreamARN {
			return newerStream(b.StreamARN, a.StreamARN)
		}
		return a.ShardID < b.ShardID
	})
	return st
}
