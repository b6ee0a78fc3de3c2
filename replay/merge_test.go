package replay

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ddbtape/ddbtape/catalog"
	"github.com/ddbtape/ddbtape/checkpoint"
	"github.com/ddbtape/ddbtape/globaltable"
	"github.com/ddbtape/ddbtape/shards"
	"github.com/ddbtape/ddbtape/writer"
)

// fakeReader serves parts and segments from memory.
type fakeReader struct {
	parts map[string][]writer.SnapshotItem // by part name
	segs  map[string][]writer.Change       // by segment key
	err   map[string]error                 // by part name or segment key
}

func (f *fakeReader) ReadPart(ctx context.Context, snapshotID string, part writer.ManifestPart, fn func(writer.SnapshotItem) error) error {
	if err := f.err[part.Name]; err != nil {
		return err
	}
	for _, it := range f.parts[part.Name] {
		if err := fn(it); err != nil {
			return err
		}
	}
	return nil
}

func (f *fakeReader) ReadSegment(ctx context.Context, s catalog.Segment, fn func(*writer.Change) error) error {
	if err := f.err[s.Key]; err != nil {
		return err
	}
	for _, c := range f.segs[s.Key] {
		if err := fn(&c); err != nil {
			return err
		}
	}
	return nil
}

// scenario is a backup: a snapshot of one part and segments, with the checkpoint of the
// split table (r, then a and b) covering 08:00 to 12:00.
type scenario struct {
	started, finished string
	snapshot          []writer.SnapshotItem
	segments          [][]writer.Change // each one segment; shard and range from its changes
	checkpoint        checkpoint.Table
}

func key(pk string) string { return fmt.Sprintf(`{"pk":{"S":%q}}`, pk) }

func item(pk, v string) string { return fmt.Sprintf(`{"pk":{"S":%q},"v":{"S":%q}}`, pk, v) }

func snapItem(pk, v string) writer.SnapshotItem {
	return writer.SnapshotItem{Keys: key(pk), Item: item(pk, v)}
}

// ch is a change of key pk on shard at stamp clock; v "" means REMOVE.
func ch(shardID string, seq int, clock, event, pk, v string) writer.Change {
	c := writer.Change{
		TableName: testTable, StreamARN: testStream, ShardID: shardID, SequenceNumber: fmt.Sprint(seq),
		EventName: event, ApproximateCreationTime: at(clock), Keys: key(pk), SizeBytes: 100,
	}
	if event != "REMOVE" {
		img := item(pk, v)
		c.NewImage = &img
	}
	return c
}

func (s scenario) listing() (catalog.Listing, *fakeReader) {
	r := &fakeReader{parts: map[string][]writer.SnapshotItem{"part-00000.parquet": s.snapshot}, segs: map[string][]writer.Change{}}
	cp := s.checkpoint
	if cp.Shards == nil {
		cp = splitTable()
	}
	l := catalog.Listing{Table: testTable, Ledger: catalog.FromCheckpoint(cp)}
	sn := snap("s1", s.started, s.finished)
	sn.Manifest.Parts = []writer.ManifestPart{{Name: "part-00000.parquet", Rows: int64(len(s.snapshot)), Bytes: 1000}}
	l.Snapshots = []catalog.Snapshot{sn}
	for i, cs := range s.segments {
		first, last := cs[0], cs[len(cs)-1]
		n := writer.SegmentName{Table: testTable, ShardID: first.ShardID, FirstSeq: first.SequenceNumber, LastSeq: last.SequenceNumber,
			Hour: first.ApproximateCreationTime.Truncate(time.Hour)}
		k := n.Key()
		if _, dup := r.segs[k]; dup {
			k = fmt.Sprintf("%s.dup%d", k, i) // same name twice cannot be stored; keep both for the test
		}
		r.segs[k] = cs
		l.Segments = append(l.Segments, catalog.Segment{Key: k, Size: 500, Name: n})
	}
	return l, r
}

// restoreAt runs plan and apply and returns the items at T by pk value ("" entries are
// absent from the map).
func (s scenario) restoreAt(t *testing.T, clock string) map[string]string {
	t.Helper()
	l, r := s.listing()
	p, err := catalog.NewPlan(l, at(clock))
	if err != nil {
		t.Fatalf("plan at %s: %v", clock, err)
	}
	got := map[string]string{}
	_, err = Apply(context.Background(), p, r, Options{TempDir: t.TempDir(), Parallelism: 3}, func(e Entry) error {
		if !e.HasWant {
			t.Errorf("entry without item and without live side: %+v", e)
		}
		if _, dup := got[e.Key]; dup {
			t.Errorf("key %s emitted twice", e.Key)
		}
		got[e.Key] = e.Want
		return nil
	})
	if err != nil {
		t.Fatalf("apply at %s: %v", clock, err)
	}
	return got
}

func want(kv ...string) map[string]string {
	m := map[string]string{}
	for i := 0; i < len(kv); i += 2 {
		m[key(kv[i])] = item(kv[i], kv[i+1])
	}
	return m
}

func TestApply_OrdersChangesWithinOneSecondBySequence(t *testing.T) {
	s := scenario{
		started: "10:00:00", finished: "10:05:00",
		snapshot: []writer.SnapshotItem{snapItem("gone", "s")},
		segments: [][]writer.Change{
			// Stored in two segments; Apply reads them in parallel, in any order.
			{
				ch("shardId-a", 10, "10:30:00", "INSERT", "k", "v1"),
				ch("shardId-a", 11, "10:30:00", "MODIFY", "k", "v2"),
				ch("shardId-a", 12, "10:30:00", "REMOVE", "k", ""),
			},
			{
				ch("shardId-a", 13, "10:30:00", "INSERT", "k", "v3"), // re-insert, same second
				ch("shardId-a", 14, "10:30:00", "INSERT", "j", "j1"),
				ch("shardId-a", 15, "10:30:00", "REMOVE", "j", ""),
				ch("shardId-a", 16, "10:30:00", "REMOVE", "gone", ""),
			},
		},
	}
	if got, w := s.restoreAt(t, "10:30:00"), want("k", "v3"); !maps.Equal(got, w) {
		t.Errorf("at 10:30:00 got %v, want %v", got, w)
	}
	if got, w := s.restoreAt(t, "10:29:59"), want("gone", "s"); !maps.Equal(got, w) {
		t.Errorf("at 10:29:59 got %v, want %v", got, w)
	}
}

func TestApply_DedupesRecordsStoredTwiceByACrash(t *testing.T) {
	first := []writer.Change{
		ch("shardId-a", 10, "10:30:00", "INSERT", "k", "v1"),
		ch("shardId-a", 11, "10:30:00", "REMOVE", "k", ""),
	}
	again := append(slices.Clone(first), ch("shardId-a", 12, "10:30:01", "INSERT", "k", "v2"), ch("shardId-a", 13, "10:30:02", "INSERT", "m", "m1"))
	s := scenario{started: "10:00:00", finished: "10:05:00", segments: [][]writer.Change{first, again, first}}
	if got, w := s.restoreAt(t, "11:00:00"), want("k", "v2", "m", "m1"); !maps.Equal(got, w) {
		t.Errorf("got %v, want %v", got, w)
	}
	if got, w := s.restoreAt(t, "10:30:00"), want(); !maps.Equal(got, w) {
		t.Errorf("at 10:30:00 got %v, want %v", got, w)
	}
}

func TestApply_ResolvesChangesMadeDuringTheScan(t *testing.T) {
	// The scan ran 10:00-10:10. It read "before" at 10:01, before its change at 10:02; it
	// read "after" at 10:07, after its change at 10:05; "deleted" at 10:01 before its removal
	// at 10:03; "born" was inserted at 10:04 behind the scan; "early" changed at 09:59:30
	// (stamp before the scan's start, inside the margin).
	s := scenario{
		started: "10:00:00", finished: "10:10:00",
		snapshot: []writer.SnapshotItem{
			snapItem("before", "old"), snapItem("after", "new"), snapItem("deleted", "x"),
			snapItem("early", "e2"), snapItem("still", "same"),
		},
		segments: [][]writer.Change{{
			ch("shardId-a", 1, "09:59:30", "MODIFY", "early", "e2"),
			ch("shardId-a", 2, "10:02:00", "MODIFY", "before", "new"),
			ch("shardId-a", 3, "10:03:00", "REMOVE", "deleted", ""),
			ch("shardId-a", 4, "10:04:00", "INSERT", "born", "b"),
			ch("shardId-a", 5, "10:05:00", "MODIFY", "after", "new"),
			ch("shardId-a", 6, "10:20:00", "MODIFY", "still", "later"), // after T
		}},
	}
	w := want("before", "new", "after", "new", "early", "e2", "born", "b", "still", "same")
	if got := s.restoreAt(t, "10:10:00"); !maps.Equal(got, w) {
		t.Errorf("got %v, want %v", got, w)
	}
	w[key("still")] = item("still", "later")
	if got := s.restoreAt(t, "10:20:00"); !maps.Equal(got, w) {
		t.Errorf("at 10:20:00 (inclusive) got %v, want %v", got, w)
	}
}

func TestApply_IgnoresChangesStampedBeforeTheReplayStart(t *testing.T) {
	// k was set to v1 at 08:30 (stored), then to v2 at 09:00 in a stretch lost to a gap that
	// closed before the snapshot. The snapshot holds v2; replaying v1 would go back in time.
	tbl := withGaps(splitTable(), gap("shardId-r", "08:45:00", "09:30:00"))
	s := scenario{
		started: "10:00:00", finished: "10:05:00",
		snapshot:   []writer.SnapshotItem{snapItem("k", "v2")},
		segments:   [][]writer.Change{{ch("shardId-r", 1, "08:30:00", "MODIFY", "k", "v1")}},
		checkpoint: tbl,
	}
	if got, w := s.restoreAt(t, "11:00:00"), want("k", "v2"); !maps.Equal(got, w) {
		t.Errorf("got %v, want %v", got, w)
	}
}

func TestApply_OrdersAChildShardAfterItsParent(t *testing.T) {
	// After the split the child's sequence numbers happen to be smaller than the parent's.
	s := scenario{
		started: "10:00:00", finished: "10:05:00",
		segments: [][]writer.Change{
			{ch("shardId-r", 900, "10:29:00", "INSERT", "k", "parent")},
			{ch("shardId-a", 5, "10:29:00", "MODIFY", "k", "child")},
		},
	}
	if got, w := s.restoreAt(t, "11:00:00"), want("k", "child"); !maps.Equal(got, w) {
		t.Errorf("got %v, want %v", got, w)
	}
}

func TestApply_FailsOnAChangeItCannotRebuild(t *testing.T) {
	tests := []struct {
		name string
		c    writer.Change
		want error
		msg  string
	}{
		{"no new image", func() writer.Change {
			c := ch("shardId-a", 1, "10:30:00", "MODIFY", "k", "v")
			c.NewImage = nil
			return c
		}(), ErrNoNewImage, "shard shardId-a sequence 1"},
		{"unknown event", func() writer.Change {
			c := ch("shardId-a", 1, "10:30:00", "MODIFY", "k", "v")
			c.EventName = "UPSERT"
			return c
		}(), nil, `unknown event name "UPSERT"`},
		{"another region's stream (a global table's other replica)", func() writer.Change {
			c := ch("shardId-a", 1, "10:30:00", "MODIFY", "k", "v")
			c.StreamARN = "arn:aws:dynamodb:eu-west-1:123456789012:table/orders/stream/2026-03-01T00:00:00.000"
			return c
		}(), globaltable.ErrOtherRegion, "holds records of region eu-west-1's stream, but the backup is of region us-east-1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := scenario{started: "10:00:00", finished: "10:05:00", segments: [][]writer.Change{{tc.c}}}
			l, r := s.listing()
			p, err := catalog.NewPlan(l, at("11:00:00"))
			if err != nil {
				t.Fatal(err)
			}
			_, err = Apply(context.Background(), p, r, Options{TempDir: t.TempDir()}, func(Entry) error { return nil })
			if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) || !strings.Contains(err.Error(), tc.msg) || !strings.Contains(err.Error(), l.Segments[0].Key) {
				t.Errorf("err = %v, want one naming the segment and %q", err, tc.msg)
			}
		})
	}
}

func TestApply_StopsWithTheReadersErrorNamingTheFile(t *testing.T) {
	s := scenario{started: "10:00:00", finished: "10:05:00", snapshot: []writer.SnapshotItem{snapItem("k", "v")}}
	l, r := s.listing()
	r.err = map[string]error{"part-00000.parquet": errors.New("/backups/orders/snapshots/s1/part-00000.parquet: SHA-256 mismatch")}
	p, err := catalog.NewPlan(l, at("11:00:00"))
	if err != nil {
		t.Fatal(err)
	}
	called := false
	_, err = Apply(context.Background(), p, r, Options{TempDir: t.TempDir()}, func(Entry) error { called = true; return nil })
	if err == nil || !strings.Contains(err.Error(), "part-00000.parquet: SHA-256 mismatch") {
		t.Errorf("err = %v", err)
	}
	if called {
		t.Errorf("an item was emitted although the snapshot could not be read")
	}
}

func TestApply_PairsTheLiveTableWithTheStateAtT(t *testing.T) {
	s := scenario{
		started: "10:00:00", finished: "10:05:00",
		snapshot: []writer.SnapshotItem{snapItem("same", "1"), snapItem("changed", "old"), snapItem("removed", "x")},
		segments: [][]writer.Change{{
			ch("shardId-a", 1, "10:30:00", "MODIFY", "changed", "new"),
			ch("shardId-a", 2, "10:30:00", "REMOVE", "removed", ""),
			ch("shardId-a", 3, "10:30:00", "INSERT", "dead", "d"),
			ch("shardId-a", 4, "10:30:00", "REMOVE", "dead", ""),
		}},
	}
	l, r := s.listing()
	p, err := catalog.NewPlan(l, at("11:00:00"))
	if err != nil {
		t.Fatal(err)
	}
	live := map[string]string{key("same"): item("same", "1"), key("changed"): item("changed", "old"), key("extra"): item("extra", "e")}
	liveSrc := func(ctx context.Context, fn func(keys, item string) error) error {
		for k, v := range live {
			if err := fn(k, v); err != nil {
				return err
			}
		}
		return nil
	}
	type pair struct{ want, have string }
	got := map[string]pair{}
	st, err := Apply(context.Background(), p, r, Options{TempDir: t.TempDir(), Live: liveSrc}, func(e Entry) error {
		got[e.Key] = pair{e.Want, e.Have}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	w := map[string]pair{
		key("same"):    {item("same", "1"), item("same", "1")},
		key("changed"): {item("changed", "new"), item("changed", "old")},
		key("extra"):   {"", item("extra", "e")},
	}
	if !maps.Equal(got, w) {
		t.Errorf("got %v, want %v", got, w)
	}
	if st.LiveItems != 3 || st.SnapshotItems != 3 || st.Changes != 4 || st.Keys != 3 {
		t.Errorf("stats %+v", st)
	}
}

func TestApply_RestoresOnlyTheFilteredKeys(t *testing.T) {
	s := scenario{
		started: "10:00:00", finished: "10:05:00",
		snapshot: []writer.SnapshotItem{snapItem("user#1", "a"), snapItem("user#2", "b"), snapItem("order#1", "c")},
		segments: [][]writer.Change{{ch("shardId-a", 1, "10:30:00", "MODIFY", "user#2", "b2"), ch("shardId-a", 2, "10:30:00", "INSERT", "order#2", "d")}},
	}
	l, r := s.listing()
	p, err := catalog.NewPlan(l, at("11:00:00"))
	if err != nil {
		t.Fatal(err)
	}
	keyList, err := ParseKeys(strings.NewReader(key("user#2")+"\n\n"+` { "pk" : { "S" : "order#2" } }`+"\n"), []string{"pk"})
	if err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		f    *KeyFilter
		want map[string]string
	}{
		"key list": {keyList, want("user#2", "b2", "order#2", "d")},
		"prefix":   {PrefixFilter("pk", "user#"), want("user#1", "a", "user#2", "b2")},
	} {
		got := map[string]string{}
		_, err := Apply(context.Background(), p, r, Options{TempDir: t.TempDir(), Filter: tc.f}, func(e Entry) error {
			got[e.Key] = e.Want
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if !maps.Equal(got, tc.want) {
			t.Errorf("%s: got %v, want %v", name, got, tc.want)
		}
	}
}

func TestParseKeys_RejectsALineThatIsNotAKeyOfTheTable(t *testing.T) {
	for input, msg := range map[string]string{
		`{"pk":{"S":"a"},"sk":{"S":"1"}}` + "\n" + `{"pk":{"S":"b"},"x":{"N":"1"}}`: "line 2: a key must have exactly the attributes pk, sk, got pk, x",
		`{"pk":"b"}`: "line 1:",
	} {
		_, err := ParseKeys(strings.NewReader(input), []string{"sk", "pk"})
		if err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("ParseKeys(%q) err = %v, want %q", input, err, msg)
		}
	}
}

func TestSpill_SplitsAnOverfullPartitionAndStillMergesEveryKey(t *testing.T) {
	dir := t.TempDir()
	sp, err := newSpill(dir, 2, 0)
	if err != nil {
		t.Fatal(err)
	}
	sp.maxBytes = 4 << 10
	const n = 2000
	for i := range n {
		k := key(fmt.Sprint("k", i))
		if err := sp.add(&record{kind: kindWant, key: k, v: version{item: "snap"}}); err != nil {
			t.Fatal(err)
		}
		// A later change for every other key, in its own record.
		if i%2 == 0 {
			v := version{change: true, order: catalog.Order{Seq: shards.SequenceNumber(fmt.Sprint(i)).Key()}, item: "changed"}
			if err := sp.add(&record{kind: kindWant, key: k, v: v}); err != nil {
				t.Fatal(err)
			}
		}
	}
	seen := map[string]string{}
	if err := sp.each(func(e Entry) error { seen[e.Key] = e.Want; return nil }); err != nil {
		t.Fatal(err)
	}
	if sp.splits == 0 {
		t.Errorf("no partition was split although each held more than %d bytes", sp.maxBytes)
	}
	if len(seen) != n {
		t.Fatalf("%d keys merged, want %d", len(seen), n)
	}
	for i := range n {
		w := "snap"
		if i%2 == 0 {
			w = "changed"
		}
		if got := seen[key(fmt.Sprint("k", i))]; got != w {
			t.Fatalf("k%d = %q, want %q", i, got, w)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("spill files left behind: %v", filepath.Join(dir, entries[0].Name()))
	}
}

func TestOrderKey_SortsLikeOrderCompare(t *testing.T) {
	orders := []catalog.Order{
		{Stream: "2026-02-01T00:00:00.000", Depth: 9, Seq: shards.SequenceNumber("999").Key(), Shard: "shardId-z"},
		{Stream: "2026-03-01T00:00:00.000", Depth: 0, Seq: shards.SequenceNumber("5").Key(), Shard: "shardId-a"},
		{Stream: "2026-03-01T00:00:00.000", Depth: 0, Seq: shards.SequenceNumber("5").Key(), Shard: "shardId-b"},
		{Stream: "2026-03-01T00:00:00.000", Depth: 0, Seq: shards.SequenceNumber("10").Key(), Shard: "shardId-a"},
		{Stream: "2026-03-01T00:00:00.000", Depth: 1, Seq: shards.SequenceNumber("1").Key(), Shard: "shardId-a"},
		{Stream: "2026-03-01T00:00:00.000", Depth: 256, Seq: shards.SequenceNumber("1").Key(), Shard: "shardId-a"},
		{Stream: "2026-03-01T00:00:00.0001", Depth: 0, Seq: shards.SequenceNumber("1").Key(), Shard: ""},
		{Stream: "arn-without-label", Depth: 0, Seq: shards.SequenceNumber("1").Key(), Shard: "s"},
	}
	for _, a := range orders {
		for _, b := range orders {
			want := a.Compare(b)
			if got := bytes.Compare(appendOrderKey(nil, a), appendOrderKey(nil, b)); got != want {
				t.Errorf("%+v vs %+v: bytes compare %d, catalog.Order.Compare %d", a, b, got, want)
			}
		}
	}
}
