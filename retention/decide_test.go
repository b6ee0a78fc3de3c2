package retention

import (
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/ddbtape/ddbtape/catalog"
	"github.com/ddbtape/ddbtape/checkpoint"
	"github.com/ddbtape/ddbtape/writer"
)

func snap(id, started, finished string) catalog.Snapshot {
	return catalog.Snapshot{ID: id, Manifest: &writer.Manifest{SnapshotID: id, TableName: testTable, StartedAt: at(started), FinishedAt: at(finished)}}
}

func seg(shard string, first, last int, hour string) catalog.Segment {
	n := writer.SegmentName{Table: testTable, ShardID: shard, FirstSeq: strconv.Itoa(first), LastSeq: strconv.Itoa(last), Hour: at(hour)}
	return catalog.Segment{Key: n.Key(), Size: 100, Name: n}
}

// covered is a shard of testStream covered from 00:00 until until, its last stored record
// lastSeq stamped lastAt.
func covered(id, until string, lastSeq int, lastAt string) checkpoint.Position {
	return checkpoint.Position{StreamARN: testStream, ShardID: id, CoveredFrom: at("00:00"), CoveredUntil: at(until),
		SequenceNumber: strconv.Itoa(lastSeq), LastRecordTime: at(lastAt)}
}

func listing(snaps []catalog.Snapshot, segs []catalog.Segment, gaps []checkpoint.Gap, pos ...checkpoint.Position) catalog.Listing {
	cp := checkpoint.Table{Table: testTable, Shards: map[string]checkpoint.Position{}, Gaps: gaps}
	for _, p := range pos {
		cp.Shards[p.ShardID] = p
	}
	return catalog.Listing{Table: testTable, Snapshots: snaps, Segments: segs, Ledger: catalog.FromCheckpoint(cp)}
}

// keys names segments as shard:first-last, sorted.
func keys(segs []catalog.Segment) []string {
	out := []string{}
	for _, s := range segs {
		out = append(out, s.Name.ShardID+":"+s.Name.FirstSeq+"-"+s.Name.LastSeq)
	}
	slices.Sort(out)
	return out
}

func TestDecide_KeepsWhatEveryRestorePointAfterTheHorizonNeeds(t *testing.T) {
	// Segments of shard-1: one per hour from 01:00 to 08:00, sequence 10h..10h+9.
	hourly := func(shard string, from, to int) []catalog.Segment {
		var out []catalog.Segment
		for h := from; h <= to; h++ {
			out = append(out, seg(shard, h*10, h*10+9, strconv.Itoa(h)+":00"))
		}
		return out
	}
	stale := at("00:00")
	cases := []struct {
		name         string
		l            catalog.Listing
		horizon      string
		incomplete   []Incomplete
		wantOK       bool
		wantOldest   string
		wantBase     string
		wantKeepFrom string
		wantSnaps    []string
		wantSegs     []string
	}{
		{
			name: "horizon inside the window: older snapshots go, the one it needs stays",
			l: listing([]catalog.Snapshot{snap("s1", "01:00", "01:10"), snap("s2", "03:00", "03:10"), snap("s3", "06:00", "06:10")},
				hourly("shard-1", 1, 8), nil, covered("shard-1", "09:00", 89, "08:50")),
			horizon: "05:30", wantOK: true,
			wantOldest: "05:30", wantBase: "s2", wantKeepFrom: "02:59",
			wantSnaps: []string{"s1"},
			// The cut is hour 02: the 01:00 segment may hold records up to the first of
			// the 02:00 one, which may be after 02:59.
			wantSegs: nil,
		},
		{
			name: "horizon before the first window: the window's start is the oldest point, nothing goes",
			l: listing([]catalog.Snapshot{snap("s1", "03:00", "03:10")},
				hourly("shard-1", 1, 5), nil, covered("shard-1", "06:00", 59, "05:50")),
			horizon: "01:00", wantOK: true,
			wantOldest: "03:10", wantBase: "s1", wantKeepFrom: "02:59",
			wantSnaps: nil, wantSegs: nil,
		},
		{
			name: "a long scan newer by finish but older by start keeps the segments of its replay",
			l: listing([]catalog.Snapshot{snap("s1", "01:00", "01:10"), snap("compacted", "05:00", "05:00"), snap("long", "02:30", "06:00")},
				hourly("shard-1", 1, 8), nil, covered("shard-1", "09:00", 89, "08:50")),
			horizon: "05:30", wantOK: true,
			wantOldest: "05:30", wantBase: "compacted", wantKeepFrom: "02:29",
			wantSnaps: []string{"s1"}, wantSegs: nil,
		},
		{
			name: "without the long scan the same segments go up to the base's replay hour",
			l: listing([]catalog.Snapshot{snap("s1", "01:00", "01:10"), snap("compacted", "05:00", "05:00")},
				hourly("shard-1", 1, 8), nil, covered("shard-1", "09:00", 89, "08:50")),
			horizon: "05:30", wantOK: true,
			wantOldest: "05:30", wantBase: "compacted", wantKeepFrom: "04:59",
			wantSnaps: []string{"s1"}, wantSegs: []string{"shard-1:10-19", "shard-1:20-29"},
		},
		{
			name: "nothing restorable at or after the horizon: nothing may go",
			l: listing([]catalog.Snapshot{snap("s1", "01:00", "01:10")},
				hourly("shard-1", 1, 3), nil, covered("shard-1", "04:00", 39, "03:50")),
			horizon: "05:00", wantOK: false,
		},
		{
			name: "horizon inside a gap: the next window's snapshot is the base",
			l: listing([]catalog.Snapshot{snap("s1", "01:00", "01:10"), snap("s2", "06:00", "06:10")},
				hourly("shard-1", 1, 8),
				[]checkpoint.Gap{{StreamARN: testStream, ShardID: "shard-1", From: at("03:00"), DetectedAt: at("04:00")}},
				covered("shard-1", "09:00", 89, "08:50")),
			horizon: "03:30", wantOK: true,
			wantOldest: "06:10", wantBase: "s2", wantKeepFrom: "05:59",
			wantSnaps: []string{"s1"}, wantSegs: []string{"shard-1:10-19", "shard-1:20-29", "shard-1:30-39"},
		},
		{
			name: "stale incomplete snapshots started before the base go; fresh or newer ones stay and hold their replay",
			l: listing([]catalog.Snapshot{snap("s1", "01:00", "01:10"), snap("s2", "05:00", "05:10"),
				{ID: "dead"}, {ID: "running"}, {ID: "newer-dead"}},
				hourly("shard-1", 1, 8), nil, covered("shard-1", "09:00", 89, "08:50")),
			incomplete: []Incomplete{
				{ID: "dead", Started: at("02:00"), Modified: stale},
				{ID: "running", Started: at("03:00"), Modified: at("08:00")},
				{ID: "newer-dead", Started: at("05:30"), Modified: stale},
			},
			horizon: "06:00", wantOK: true,
			wantOldest: "06:00", wantBase: "s2", wantKeepFrom: "02:59",
			wantSnaps: []string{"s1", "dead"}, wantSegs: nil,
		},
		{
			name: "a shard's last segment goes when the checkpoint stamps its last record before the replay",
			l: listing([]catalog.Snapshot{snap("s1", "01:00", "01:10"), snap("s2", "06:00", "06:10")},
				append(hourly("shard-1", 1, 8), seg("shard-old", 5, 9, "01:00"), seg("shard-old", 10, 12, "02:00"),
					seg("shard-unknown", 1, 2, "01:00"), seg("shard-recent", 1, 2, "04:00")),
				nil, covered("shard-1", "09:00", 89, "08:50"),
				covered("shard-old", "09:00", 12, "02:20"), covered("shard-recent", "09:00", 2, "05:58")),
			horizon: "07:00", wantOK: true,
			wantOldest: "07:00", wantBase: "s2", wantKeepFrom: "05:59",
			wantSnaps: []string{"s1"},
			wantSegs:  []string{"shard-1:10-19", "shard-1:20-29", "shard-1:30-39", "shard-old:10-12", "shard-old:5-9"},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d, ok := Decide(c.l, at(c.horizon), c.incomplete, at("07:00"))
			if ok != c.wantOK {
				t.Fatalf("Decide ok = %v, want %v (%+v)", ok, c.wantOK, d)
			}
			if !ok {
				if !d.Empty() {
					t.Errorf("refused, yet deletes %+v", d)
				}
				return
			}
			if !d.Oldest.Equal(at(c.wantOldest)) || d.Base != c.wantBase || !d.KeepFrom.Equal(at(c.wantKeepFrom)) {
				t.Errorf("oldest %s base %s keep from %s, want %s %s %s", d.Oldest.Format("15:04"), d.Base, d.KeepFrom.Format("15:04"),
					c.wantOldest, c.wantBase, c.wantKeepFrom)
			}
			if !slices.Equal(d.Snapshots, c.wantSnaps) {
				t.Errorf("snapshots to delete %v, want %v", d.Snapshots, c.wantSnaps)
			}
			if got := keys(d.Segments); !slices.Equal(got, orEmpty(c.wantSegs)) {
				t.Errorf("segments to delete %v, want %v", got, c.wantSegs)
			}
		})
	}
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// Whatever the horizon, every restore point at or after the decision's window start is
// planned from the same snapshot, and no segment a restore would read is deleted.
func TestDecide_NeverChangesAPlanAtOrAfterTheNewWindowStart(t *testing.T) {
	var segs []catalog.Segment
	for h := 0; h <= 9; h++ {
		segs = append(segs, seg("shard-1", h*10, h*10+9, strconv.Itoa(h)+":00"), seg("shard-2", h*10, h*10+4, strconv.Itoa(h)+":00"))
	}
	l := listing([]catalog.Snapshot{snap("s1", "00:30", "00:40"), snap("c1", "02:00", "02:00"), snap("s2", "03:00", "05:30"),
		snap("c2", "05:00", "05:00"), snap("s3", "07:00", "07:20")},
		segs, nil, covered("shard-1", "10:00", 99, "09:50"), covered("shard-2", "10:00", 94, "09:50"))
	for h := 0; h < 10*60; h += 7 {
		horizon := at("00:00").Add(time.Duration(h) * time.Minute)
		d, ok := Decide(l, horizon, nil, at("00:00"))
		if !ok {
			t.Fatalf("horizon %s: refused", horizon.Format("15:04"))
		}
		after := without(l, d.Snapshots)
		gone := map[string]bool{}
		for _, s := range d.Segments {
			gone[s.Key] = true
		}
		var kept []catalog.Segment
		for _, s := range after.Segments {
			if !gone[s.Key] {
				kept = append(kept, s)
			}
		}
		after.Segments = kept
		if ws := catalog.Windows(after); len(ws) == 0 || !ws[0].From.Equal(d.WindowStart) {
			t.Errorf("horizon %s: windows after %v, want a start at %s", horizon.Format("15:04"), ws, d.WindowStart.Format("15:04"))
		}
		for m := d.WindowStart; !m.After(at("10:00")); m = m.Add(11 * time.Minute) {
			before, err1 := catalog.NewPlan(l, m)
			now, err2 := catalog.NewPlan(after, m)
			if err1 != nil || err2 != nil {
				t.Fatalf("horizon %s, restore at %s: %v / %v", horizon.Format("15:04"), m.Format("15:04"), err1, err2)
			}
			if before.Snapshot.ID != now.Snapshot.ID || !slices.Equal(keys(before.Segments), keys(now.Segments)) {
				t.Errorf("horizon %s, restore at %s: plan %s %v became %s %v", horizon.Format("15:04"), m.Format("15:04"),
					before.Snapshot.ID, keys(before.Segments), now.Snapshot.ID, keys(now.Segments))
			}
		}
	}
}
