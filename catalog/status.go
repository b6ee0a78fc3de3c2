package catalog

import (
	"cmp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/ddbtape/ddbtape/globaltable"
	"github.com/ddbtape/ddbtape/ledger"
	"github.com/ddbtape/ddbtape/writer"
)

// Status is what a backup holds and what it can restore, for ddbtape status.
type Status struct {
	Table     string           `json:"table"`
	Snapshots []SnapshotStatus `json:"snapshots"`
	// Windows are the restorable windows, oldest first; Earliest and Latest the first and
	// last restorable whole seconds (zero when nothing is restorable), each of which
	// `restore --at` takes back.
	Windows  []Window  `json:"windows"`
	Earliest time.Time `json:"earliest,omitzero"`
	Latest   time.Time `json:"latest,omitzero"`
	// Streams are the table's streams, oldest first: a replaced stream keeps its era.
	Streams []StreamStatus `json:"streams"`
	Shards  []ShardStatus  `json:"shards"`
	// Gaps are the stretches known lost: recorded by capture, and the time between a
	// replaced stream and its successor.
	Gaps []ledger.Gap `json:"gaps"`
	// Sources says where the coverage came from (ledger, checkpoint store).
	Sources []string `json:"sources"`
	// Region is the region whose stream the backup holds; Regions lists them all when a
	// backup wrongly holds several (then nothing is restorable). Global describes a
	// global table, as the newest complete snapshot saw it.
	Region  string            `json:"region,omitempty"`
	Regions []string          `json:"regions,omitempty"`
	Global  *globaltable.Info `json:"global_table,omitempty"`
	// LastChange is the stamp of the newest change stored.
	LastChange   time.Time `json:"last_change,omitzero"`
	Segments     int       `json:"segments"`
	SegmentBytes int64     `json:"segment_bytes"`
}

// SnapshotStatus is one snapshot.
type SnapshotStatus struct {
	ID         string    `json:"id"`
	Complete   bool      `json:"complete"`
	Method     string    `json:"method,omitempty"`
	StartedAt  time.Time `json:"started_at,omitzero"`
	FinishedAt time.Time `json:"finished_at,omitzero"`
	Items      int64     `json:"items"`
	Parts      int       `json:"parts"`
	Bytes      int64     `json:"bytes"`
	// Alone is set for a complete snapshot that opens no window because the table had no
	// stream when it started: it restores only by itself (restore --snapshot ID).
	Alone bool `json:"alone,omitempty"`
	// Region is the region of the replica it scanned; OtherRegion is set when that is not
	// the region of the backup's stream, so it opens no window.
	Region      string `json:"region,omitempty"`
	OtherRegion bool   `json:"other_region,omitempty"`
}

// StreamStatus is one stream of the table.
type StreamStatus struct {
	ARN      string    `json:"arn"`
	Created  time.Time `json:"created,omitzero"`
	ViewType string    `json:"view_type,omitempty"`
	// Replaced is set when a newer stream followed it.
	Replaced bool `json:"replaced,omitempty"`
	// ListedAt is the last listing of its shards recorded in the ledger.
	ListedAt time.Time `json:"listed_at,omitzero"`
}

// ShardStatus is one shard and what is known to be stored of it.
type ShardStatus struct {
	StreamARN string        `json:"stream_arn"`
	ShardID   string        `json:"shard_id"`
	ParentID  string        `json:"parent_id,omitempty"`
	Start     string        `json:"start,omitempty"`
	Spans     []ledger.Span `json:"covered"`
	// CoveredUntil is how far it was covered while open.
	CoveredUntil   time.Time `json:"covered_until,omitzero"`
	Finished       bool      `json:"finished,omitempty"`
	LastSequence   string    `json:"last_sequence,omitempty"`
	LastRecordTime time.Time `json:"last_record_time,omitzero"`
}

// Summarize describes a listing. It does no I/O.
func Summarize(l Listing) Status { return summarize(l, newModel(l.Ledger)) }

func summarize(l Listing, m model) Status {
	st := Status{Table: l.Table, Windows: windows(l, m), Segments: len(l.Segments), Sources: append([]string{}, l.Sources...)}
	if st.Windows == nil {
		st.Windows = []Window{}
	}
	if n := len(st.Windows); n > 0 {
		st.Earliest, _ = st.Windows[0].Seconds()
		_, st.Latest = st.Windows[n-1].Seconds()
	}
	var firstStream time.Time
	if len(m.streams) > 0 {
		firstStream = m.streams[0].Created
	}
	st.Region, _ = l.Region()
	if rs := l.Ledger.Regions(); len(rs) > 1 {
		st.Regions = rs
	}
	var newest *writer.Manifest
	for _, s := range l.Snapshots {
		ss := SnapshotStatus{ID: s.ID, Complete: s.Manifest != nil}
		if mf := s.Manifest; mf != nil {
			ss.Method, ss.StartedAt, ss.FinishedAt, ss.Items, ss.Parts = mf.Method, mf.StartedAt, mf.FinishedAt, mf.ItemCount, len(mf.Parts)
			for _, p := range mf.Parts {
				ss.Bytes += p.Bytes
			}
			ss.Alone = !firstStream.IsZero() && mf.StartedAt.Before(firstStream)
			ss.Region, ss.OtherRegion = mf.Region, !ofRegion(mf, st.Region)
			if newest == nil || mf.FinishedAt.After(newest.FinishedAt) {
				newest = mf
			}
		}
		st.Snapshots = append(st.Snapshots, ss)
	}
	if newest != nil && (newest.GlobalTableVersion != "" || len(newest.Replicas) > 0) {
		st.Global = &globaltable.Info{Region: newest.Region, Version: newest.GlobalTableVersion, Replicas: newest.Replicas}
	}
	if st.Region == "" && newest != nil {
		st.Region = newest.Region
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
	st.Streams = []StreamStatus{}
	st.Shards = []ShardStatus{}
	st.Gaps = append([]ledger.Gap{}, l.Ledger.Gaps...)
	for i, s := range m.streams {
		ss := StreamStatus{ARN: s.ARN, Created: s.Created, ViewType: s.ViewType, ListedAt: s.ListedAt, Replaced: i < len(m.streams)-1}
		st.Streams = append(st.Streams, ss)
		if ss.Replaced {
			next := m.streams[i+1]
			from := m.leastCoveredLeaf(s)
			st.Gaps = append(st.Gaps, ledger.Gap{StreamARN: next.ARN, ShardID: ledger.AllShards, From: from, To: next.Created, Cause: "stream-replaced",
				Reason: "the table's stream was replaced: changes between the old stream's last covered moment and the new stream's creation are in no stream"})
		}
		for _, k := range s.shards {
			sh, c := l.Ledger.Shards[k], l.Ledger.Coverage[k]
			st.Shards = append(st.Shards, ShardStatus{StreamARN: k.Stream, ShardID: k.Shard, ParentID: sh.ParentID, Start: sh.Start,
				Spans: append([]ledger.Span{}, c.Spans...), CoveredUntil: c.OpenUntil, Finished: c.Finished,
				LastSequence: c.LastSequence, LastRecordTime: c.LastRecordTime})
			if c.LastRecordTime.After(st.LastChange) {
				st.LastChange = c.LastRecordTime
			}
		}
	}
	slices.SortStableFunc(st.Gaps, func(a, b ledger.Gap) int {
		return cmp.Or(a.To.Compare(b.To), strings.Compare(a.ShardID, b.ShardID))
	})
	return st
}
