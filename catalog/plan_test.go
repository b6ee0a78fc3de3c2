package catalog

import (
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ddbtape/ddbtape/checkpoint"
	"github.com/ddbtape/ddbtape/writer"
)

const (
	testTable  = "orders"
	oldStream  = "arn:aws:dynamodb:us-east-1:123456789012:table/orders/stream/2026-02-01T00:00:00.000"
	testStream = "arn:aws:dynamodb:us-east-1:123456789012:table/orders/stream/2026-03-01T00:00:00.000"
)

// at is 2026-03-01 plus a clock time "15:04:05".
func at(clock string) time.Time {
	t, err := time.Parse("2006-01-02 15:04:05", "2026-03-01 "+clock)
	if err != nil {
		panic(err)
	}
	return t
}

func snap(id, started, finished string) Snapshot {
	return Snapshot{ID: id, Manifest: &writer.Manifest{SnapshotID: id, TableName: testTable, StartedAt: at(started), FinishedAt: at(finished)}}
}

func incomplete(id string) Snapshot { return Snapshot{ID: id} }

func seg(shard string, first, last int, hour string) Segment {
	n := writer.SegmentName{Table: testTable, ShardID: shard, FirstSeq: strconv.Itoa(first), LastSeq: strconv.Itoa(last), Hour: at(hour)}
	return Segment{Key: n.Key(), Size: 1000, Name: n}
}

// shard makes a position of testStream covered from from until until ("" for zero).
func shard(id, parent, from, until string) checkpoint.Position {
	p := checkpoint.Position{StreamARN: testStream, ShardID: id, ParentShardID: parent}
	if from != "" {
		p.CoveredFrom = at(from)
	}
	if until != "" {
		p.CoveredUntil = at(until)
	}
	return p
}

func finished(p checkpoint.Position) checkpoint.Position {
	p.Finished = true
	return p
}

func table(ps ...checkpoint.Position) checkpoint.Table {
	t := checkpoint.Table{Table: testTable, Shards: map[string]checkpoint.Position{}}
	for _, p := range ps {
		t.Shards[p.ShardID] = p
	}
	return t
}

func withGaps(t checkpoint.Table, gs ...checkpoint.Gap) checkpoint.Table {
	t.Gaps = gs
	return t
}

func gap(shardID, from, detected string) checkpoint.Gap {
	g := checkpoint.Gap{StreamARN: testStream, ShardID: shardID, DetectedAt: at(detected), Reason: "trimmed"}
	if from != "" {
		g.From = at(from)
	}
	return g
}

// A split: root r finished at 10:30 into a and b, both read up to 12:00 and 12:10.
func splitTable() checkpoint.Table {
	r := shard("shardId-r", "", "08:00:00", "10:30:00")
	r.Finished = true
	return table(r, shard("shardId-a", "shardId-r", "", "12:00:00"), shard("shardId-b", "shardId-r", "", "12:10:00"))
}

func TestNewPlan_PicksNewestCompleteSnapshotFinishedBeforeT(t *testing.T) {
	l := Listing{
		Table: testTable,
		Snapshots: []Snapshot{
			snap("s1", "09:00:00", "09:10:00"),
			snap("s2", "10:00:00", "10:20:00"),
			incomplete("s3"), // a scan still running, or one that died: never used
			snap("s4", "11:30:00", "11:50:00"),
		},
		Ledger: FromCheckpoint(splitTable()),
	}
	tests := []struct {
		at       string
		snapshot string
	}{
		{"09:10:00", "s1"}, // inclusive: finished exactly at T
		{"10:19:59", "s1"},
		{"10:20:00", "s2"},
		{"11:49:59", "s2"},
		{"11:50:00", "s4"},
		{"12:00:00", "s4"}, // the window end, inclusive
	}
	for _, tc := range tests {
		p, err := NewPlan(l, at(tc.at))
		if err != nil {
			t.Fatalf("at %s: %v", tc.at, err)
		}
		if p.Snapshot.ID != tc.snapshot {
			t.Errorf("at %s: snapshot %s, want %s", tc.at, p.Snapshot.ID, tc.snapshot)
		}
		if want := p.Snapshot.Manifest.StartedAt.Add(-time.Minute); !p.ReplayFrom.Equal(want) {
			t.Errorf("at %s: replay from %s, want the snapshot's start less a minute %s", tc.at, p.ReplayFrom, want)
		}
		if !p.At.Equal(at(tc.at)) {
			t.Errorf("at %s: plan at %s", tc.at, p.At)
		}
	}
}

func TestNewPlan_RefusesWithErrNoCoverageNamingTheCause(t *testing.T) {
	split := splitTable()
	tests := []struct {
		name    string
		l       Listing
		at      string
		reason  []string // substrings of the message
		shardID string
		gap     bool
		windows []Window
	}{
		{
			name:    "T before every snapshot",
			l:       Listing{Snapshots: []Snapshot{snap("s1", "09:00:00", "09:10:00")}, Ledger: FromCheckpoint(split)},
			at:      "09:09:59",
			reason:  []string{"no complete snapshot finished at or before it", "restorable window: 2026-03-01T09:10:00Z to 2026-03-01T12:00:00Z"},
			windows: []Window{{From: at("09:10:00"), Until: at("12:00:00"), SnapshotID: "s1"}},
		},
		{
			name:   "only an incomplete snapshot",
			l:      Listing{Snapshots: []Snapshot{incomplete("s1")}, Ledger: FromCheckpoint(split)},
			at:     "11:00:00",
			reason: []string{"no complete snapshot exists", "nothing is restorable yet"},
		},
		{
			name:    "T after the window end names the slowest leaf",
			l:       Listing{Snapshots: []Snapshot{snap("s1", "09:00:00", "09:10:00")}, Ledger: FromCheckpoint(split)},
			at:      "12:00:01",
			reason:  []string{"replay from 2026-03-01T08:59:00Z to 2026-03-01T12:00:01Z is not covered", "shard shardId-a is covered only until 2026-03-01T12:00:00Z"},
			shardID: "shardId-a",
			windows: []Window{{From: at("09:10:00"), Until: at("12:00:00"), SnapshotID: "s1"}},
		},
		{
			name: "a root covered from after the replay start",
			l: Listing{
				Snapshots: []Snapshot{snap("s1", "09:00:00", "09:10:00")},
				Ledger:    FromCheckpoint(table(shard("shardId-x", "", "09:30:00", "12:00:00"))),
			},
			at:      "11:00:00",
			reason:  []string{"shard shardId-x is not covered at 2026-03-01T08:59:00Z (covered 2026-03-01T09:30:00Z to 2026-03-01T12:00:00Z)"},
			shardID: "shardId-x",
		},
		{
			name: "a root that records no covered_from",
			l: Listing{
				Snapshots: []Snapshot{snap("s1", "09:00:00", "09:10:00")},
				Ledger:    FromCheckpoint(table(shard("shardId-x", "", "", "12:00:00"))),
			},
			at:      "11:00:00",
			reason:  []string{"shard shardId-x has not been read yet"},
			shardID: "shardId-x",
		},
		{
			name: "a child never polled holds the end where its parent stopped",
			l: Listing{
				Snapshots: []Snapshot{snap("s1", "09:00:00", "09:10:00")},
				Ledger:    FromCheckpoint(table(finished(shard("shardId-x", "", "08:00:00", "10:00:00")), shard("shardId-y", "shardId-x", "", ""))),
			},
			at:      "10:00:01",
			reason:  []string{"shard shardId-y has not been read yet"},
			shardID: "shardId-y",
			windows: []Window{{From: at("09:10:00"), Until: at("10:00:00"), SnapshotID: "s1"}},
		},
		{
			name:   "no checkpoint at all",
			l:      Listing{Snapshots: []Snapshot{snap("s1", "09:00:00", "09:10:00")}, Ledger: FromCheckpoint(table())},
			at:     "09:30:00",
			reason: []string{"no capture has recorded the table's stream yet"},
		},
		{
			name: "T in a gap",
			l: Listing{
				Snapshots: []Snapshot{snap("s1", "09:00:00", "09:10:00"), snap("s2", "11:00:00", "11:10:00")},
				Ledger:    FromCheckpoint(withGaps(split, gap("shardId-a", "10:40:00", "10:50:00"))),
			},
			at:      "10:45:00",
			reason:  []string{"gap in shard shardId-a from 2026-03-01T10:40:00Z to 2026-03-01T10:50:00Z (trimmed)", "restorable windows: 2026-03-01T09:10:00Z to 2026-03-01T10:40:00Z, 2026-03-01T11:10:00Z to 2026-03-01T12:00:00Z"},
			shardID: "shardId-a",
			gap:     true,
			windows: []Window{
				{From: at("09:10:00"), Until: at("10:40:00"), SnapshotID: "s1"},
				{From: at("11:10:00"), Until: at("12:00:00"), SnapshotID: "s2"},
			},
		},
		{
			name: "T after a gap with only the snapshot before it",
			l: Listing{
				Snapshots: []Snapshot{snap("s1", "09:00:00", "09:10:00")},
				Ledger:    FromCheckpoint(withGaps(split, gap("shardId-b", "10:40:00", "10:50:00"))),
			},
			at:      "11:30:00",
			reason:  []string{"gap in shard shardId-b"},
			shardID: "shardId-b",
			gap:     true,
			windows: []Window{{From: at("09:10:00"), Until: at("10:40:00"), SnapshotID: "s1"}},
		},
		{
			name: "a gap of unknown start reaches back to the beginning",
			l: Listing{
				Snapshots: []Snapshot{snap("s1", "09:00:00", "09:10:00")},
				Ledger:    FromCheckpoint(withGaps(split, gap("shardId-b", "", "10:50:00"))),
			},
			at:      "09:30:00",
			reason:  []string{"gap in shard shardId-b from its start to 2026-03-01T10:50:00Z"},
			shardID: "shardId-b",
			gap:     true,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.l.Table = testTable
			_, err := NewPlan(tc.l, at(tc.at))
			if !errors.Is(err, ErrNoCoverage) {
				t.Fatalf("err = %v, want ErrNoCoverage", err)
			}
			var ce *CoverageError
			if !errors.As(err, &ce) {
				t.Fatalf("err %T is not a *CoverageError", err)
			}
			for _, s := range tc.reason {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("message %q lacks %q", err.Error(), s)
				}
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("message is not one line: %q", err.Error())
			}
			if ce.ShardID != tc.shardID {
				t.Errorf("shard %q, want %q", ce.ShardID, tc.shardID)
			}
			if (ce.Gap != nil) != tc.gap {
				t.Errorf("gap %+v, want one: %v", ce.Gap, tc.gap)
			}
			if !slices.Equal(ce.Windows, tc.windows) {
				t.Errorf("windows %v, want %v", ce.Windows, tc.windows)
			}
		})
	}
}

func TestNewPlan_GapBeforeTheSnapshotsReplayDoesNotMatter(t *testing.T) {
	l := Listing{
		Snapshots: []Snapshot{snap("s1", "11:00:00", "11:10:00")},
		Ledger:    FromCheckpoint(withGaps(splitTable(), gap("shardId-a", "10:40:00", "10:58:59"))),
	}
	if _, err := NewPlan(l, at("11:30:00")); err != nil {
		t.Fatalf("gap detected before R = 10:59:00: %v", err)
	}
	// Detected at R itself: the gap may hold changes stamped R.
	l.Ledger = FromCheckpoint(withGaps(splitTable(), gap("shardId-a", "10:40:00", "10:59:00")))
	if _, err := NewPlan(l, at("11:30:00")); !errors.Is(err, ErrNoCoverage) {
		t.Fatalf("gap detected at R: err = %v, want ErrNoCoverage", err)
	}
}

func TestNewPlan_FallsBackToAnOlderSnapshotWhenTheNewestIsNotCovered(t *testing.T) {
	// s2 finished last but started before the capture did; s1 started after it.
	l := Listing{
		Snapshots: []Snapshot{snap("s1", "09:00:00", "09:10:00"), snap("s2", "07:00:00", "09:20:00")},
		Ledger:    FromCheckpoint(table(shard("shardId-x", "", "08:00:00", "12:00:00"))),
	}
	p, err := NewPlan(l, at("10:00:00"))
	if err != nil {
		t.Fatal(err)
	}
	if p.Snapshot.ID != "s1" {
		t.Errorf("snapshot %s, want s1", p.Snapshot.ID)
	}
}

func TestNewPlan_ChildInheritsCoveredFromOfItsRoot(t *testing.T) {
	l := Listing{
		Snapshots: []Snapshot{snap("s1", "09:00:00", "09:10:00")},
		Ledger: FromCheckpoint(table(
			finished(shard("shardId-r", "", "08:00:00", "09:30:00")),
			shard("shardId-c", "shardId-r", "", "12:00:00"),
			shard("shardId-g", "shardId-c", "", "12:00:00"),
		)),
	}
	if _, err := NewPlan(l, at("11:00:00")); err != nil {
		t.Fatal(err)
	}
	// A child that records a later CoveredFrom of its own is not covered before it.
	c := shard("shardId-c", "shardId-r", "10:00:00", "12:00:00")
	l.Ledger = FromCheckpoint(table(finished(shard("shardId-r", "", "08:00:00", "09:30:00")), c, shard("shardId-g", "shardId-c", "", "12:00:00")))
	_, err := NewPlan(l, at("11:00:00"))
	var ce *CoverageError
	if !errors.As(err, &ce) || ce.ShardID != "shardId-c" {
		t.Fatalf("err = %v, want coverage error naming shardId-c", err)
	}
}

func TestNewPlan_WindowEndIgnoresParentsAndOlderStreams(t *testing.T) {
	tbl := splitTable()
	// The parent stopped at 10:30 but has children: not a leaf. An older stream's shard,
	// long finished, is not either.
	old := checkpoint.Position{StreamARN: oldStream, ShardID: "shardId-old", CoveredFrom: at("01:00:00"), CoveredUntil: at("02:00:00"), Finished: true}
	tbl.Shards[old.ShardID] = old
	l := Listing{Snapshots: []Snapshot{snap("s1", "09:00:00", "09:10:00")}, Ledger: FromCheckpoint(tbl)}
	end, ok := WindowEnd(l)
	if !ok || !end.Equal(at("12:00:00")) {
		t.Fatalf("window end %s %v, want 12:00:00 (the slower child)", end, ok)
	}
}

func TestWindows_AreExactlyTheTimesNewPlanAccepts(t *testing.T) {
	l := Listing{
		Snapshots: []Snapshot{
			snap("s1", "08:30:00", "08:40:00"),
			snap("s2", "09:00:00", "09:10:00"),
			snap("s3", "10:55:00", "11:05:00"),
			incomplete("s4"),
		},
		Ledger: FromCheckpoint(withGaps(splitTable(), gap("shardId-b", "10:40:00", "10:50:00"))),
	}
	ws := Windows(l)
	want := []Window{
		{From: at("08:40:00"), Until: at("10:40:00"), SnapshotID: "s1"},
		{From: at("11:05:00"), Until: at("12:00:00"), SnapshotID: "s3"},
	}
	if !slices.Equal(ws, want) {
		t.Fatalf("windows %v, want %v", ws, want)
	}
	for ts := at("08:00:00"); !ts.After(at("12:30:00")); ts = ts.Add(30 * time.Second) {
		in := false
		for _, w := range ws {
			in = in || w.Contains(ts)
		}
		_, err := NewPlan(l, ts)
		if in != (err == nil) {
			t.Errorf("at %s: in a window %v, but NewPlan err = %v", ts.Format(time.TimeOnly), in, err)
		}
	}
}

func keys(segs []Segment) []string {
	var out []string
	for _, s := range segs {
		out = append(out, s.Name.ShardID+"/"+s.Name.FirstSeq)
	}
	slices.Sort(out)
	return out
}

func TestNewPlan_SelectsTheSegmentsThatMayHoldReplayedChanges(t *testing.T) {
	l := Listing{
		Snapshots: []Snapshot{snap("s1", "10:20:00", "10:25:00")}, // R = 10:19:00
		Ledger:    FromCheckpoint(splitTable()),
		Segments: []Segment{
			// Parent r, before the split.
			seg("shardId-r", 1, 10, "08:00:00"),  // next starts in hour 09 < R's hour 10: skipped
			seg("shardId-r", 11, 20, "09:00:00"), // next starts in hour 10: may hold records >= R
			seg("shardId-r", 21, 30, "10:00:00"),
			// Child a: one segment per hour.
			seg("shardId-a", 31, 40, "10:00:00"),
			seg("shardId-a", 41, 50, "11:00:00"),
			seg("shardId-a", 51, 60, "12:00:00"), // starts after T's hour (11): skipped
			// Child b: a crash stored 61-70 twice, once as a longer segment.
			seg("shardId-b", 61, 70, "10:00:00"),
			seg("shardId-b", 61, 75, "10:00:00"),
			// A shard the checkpoint does not know (crash before its first checkpoint).
			seg("shardId-new", 81, 90, "11:00:00"),
		},
	}
	p, err := NewPlan(l, at("11:30:00"))
	if err != nil {
		t.Fatal(err)
	}
	got := keys(p.Segments)
	want := []string{"shardId-a/31", "shardId-a/41", "shardId-b/61", "shardId-b/61", "shardId-new/81", "shardId-r/11", "shardId-r/21"}
	if !slices.Equal(got, want) {
		t.Errorf("segments %v, want %v", got, want)
	}
	if !slices.IsSortedFunc(p.Segments, func(a, b Segment) int { return strings.Compare(a.Key, b.Key) }) {
		t.Errorf("segments are not sorted by key")
	}
}

func TestNewPlan_KeepsASegmentOverlappedByItsSuccessor(t *testing.T) {
	// After a crash, 1-20 was stored again as 5-25: records 6-20 of the first segment may be
	// newer than 5's hour, so the first is kept whatever the next one's hour.
	l := Listing{
		Snapshots: []Snapshot{snap("s1", "10:20:00", "10:25:00")},
		Ledger:    FromCheckpoint(table(shard("shardId-x", "", "07:00:00", "12:00:00"))),
		Segments:  []Segment{seg("shardId-x", 1, 20, "08:00:00"), seg("shardId-x", 5, 25, "08:00:00")},
	}
	p, err := NewPlan(l, at("11:00:00"))
	if err != nil {
		t.Fatal(err)
	}
	if got := keys(p.Segments); !slices.Equal(got, []string{"shardId-x/1", "shardId-x/5"}) {
		t.Errorf("segments %v", got)
	}
}

func TestLineage_OrdersParentsBeforeChildrenAndUnknownShardsLast(t *testing.T) {
	tbl := table(
		shard("shardId-b", "shardId-a", "", ""), // a is known only as b's parent
		shard("shardId-c", "shardId-b", "", ""),
		shard("shardId-x", "", "", ""),
	)
	lin := NewLineage(FromCheckpoint(tbl))
	order := func(shardID, seq string) Order {
		return lin.Order(&writer.Change{StreamARN: testStream, ShardID: shardID, SequenceNumber: seq})
	}
	older := func(shardID, seq string) Order {
		return lin.Order(&writer.Change{StreamARN: oldStream, ShardID: shardID, SequenceNumber: seq})
	}
	chain := []Order{
		older("shardId-zz", "999"), // an older stream precedes everything of the newer one
		order("shardId-a", "900"),  // parents first, whatever their sequence numbers
		order("shardId-b", "5"),
		order("shardId-b", "10"), // numeric order, not text order
		order("shardId-c", "1"),
		order("shardId-unknown", "1"), // after every known shard of its stream
	}
	for i := 1; i < len(chain); i++ {
		if chain[i-1].Compare(chain[i]) >= 0 {
			t.Errorf("%+v does not sort before %+v", chain[i-1], chain[i])
		}
	}
	if d := order("shardId-x", "1").Depth; d != 0 {
		t.Errorf("root depth %d", d)
	}
}

func TestLineage_SurvivesAParentCycle(t *testing.T) {
	tbl := table(shard("shardId-a", "shardId-b", "", ""), shard("shardId-b", "shardId-a", "", ""))
	lin := NewLineage(FromCheckpoint(tbl)) // must return
	_ = lin.Order(&writer.Change{ShardID: "shardId-a", SequenceNumber: "1"})
}

func TestNewPlan_SegmentSelectionKeepsAMarginAtHourBoundaries(t *testing.T) {
	// R = 10:00:30 and T = 11:59:30: within a minute of an hour boundary on both sides.
	l := Listing{
		Snapshots: []Snapshot{snap("s1", "10:01:30", "10:05:00")},
		Ledger:    FromCheckpoint(table(shard("shardId-x", "", "07:00:00", "12:30:00"))),
		Segments: []Segment{
			seg("shardId-x", 0, 0, "07:00:00"),   // next starts in hour 08, before hour(R-1m) = 09: skipped
			seg("shardId-x", 1, 10, "08:00:00"),  // next starts in hour 09 = hour(R-1m): kept
			seg("shardId-x", 11, 20, "09:00:00"), // may hold a record stamped after 10:00
			seg("shardId-x", 21, 30, "12:00:00"), // hour(T+1m) = 12: kept
			seg("shardId-x", 31, 40, "13:00:00"), // skipped
		},
	}
	p, err := NewPlan(l, at("11:59:30"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := keys(p.Segments), []string{"shardId-x/1", "shardId-x/11", "shardId-x/21"}; !slices.Equal(got, want) {
		t.Errorf("segments %v, want %v", got, want)
	}
}

// Every time status prints comes back through --at: a window's first and last whole
// seconds are restorable, also when its ends fall between seconds.
func TestWindow_SecondsArePlansNewPlanAccepts(t *testing.T) {
	l := Listing{
		Table:     testTable,
		Snapshots: []Snapshot{snap("s1", "09:00:00", "09:10:00")},
		Ledger:    FromCheckpoint(table(shard("shardId-x", "", "08:00:00", "12:00:00"))),
	}
	l.Snapshots[0].Manifest.FinishedAt = at("09:10:00").Add(437 * time.Millisecond)
	ws := Windows(l)
	if len(ws) != 1 {
		t.Fatalf("windows %v", ws)
	}
	first, last := ws[0].Seconds()
	if !first.Equal(at("09:10:01")) || !last.Equal(at("12:00:00")) {
		t.Fatalf("seconds %s to %s, want 09:10:01 to 12:00:00", first, last)
	}
	for _, tm := range []time.Time{first, last} {
		if _, err := NewPlan(l, tm); err != nil {
			t.Errorf("printed second %s refused: %v", tm, err)
		}
		parsed, err := ParseAt(tm.Format(time.RFC3339))
		if err != nil || !parsed.Time.Equal(tm) {
			t.Errorf("%s does not parse back: %v %v", tm, parsed, err)
		}
	}
	if _, err := NewPlan(l, first.Truncate(time.Second).Add(-time.Second)); err == nil {
		t.Error("the second before the window's first was accepted")
	}
}
