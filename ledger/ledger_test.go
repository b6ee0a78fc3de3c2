package ledger

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ddbtape/ddbtape/storage"
	"github.com/ddbtape/ddbtape/storage/dir"
)

const (
	arnA = "arn:aws:dynamodb:us-east-1:123456789012:table/orders/stream/2026-03-01T00:00:00.000"
	arnB = "arn:aws:dynamodb:us-east-1:123456789012:table/orders/stream/2026-03-02T00:00:00.000"
)

var t0 = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

func min_(n int) time.Time { return t0.Add(time.Duration(n) * time.Minute) }

func TestAddSpan_UnionOfClosedIntervals(t *testing.T) {
	cases := []struct {
		name string
		in   []Span
		want []Span
	}{
		{"disjoint stay apart", []Span{{From: min_(0), Until: min_(1)}, {From: min_(3), Until: min_(4)}},
			[]Span{{From: min_(0), Until: min_(1)}, {From: min_(3), Until: min_(4)}}},
		{"overlapping join", []Span{{From: min_(3), Until: min_(6)}, {From: min_(0), Until: min_(4)}},
			[]Span{{From: min_(0), Until: min_(6)}}},
		{"touching within a millisecond join", []Span{{From: min_(0), Until: min_(1)}, {From: min_(1).Add(time.Millisecond), Until: min_(2)}},
			[]Span{{From: min_(0), Until: min_(2)}}},
		{"two milliseconds apart stay apart", []Span{{From: min_(0), Until: min_(1)}, {From: min_(1).Add(2 * time.Millisecond), Until: min_(2)}},
			[]Span{{From: min_(0), Until: min_(1)}, {From: min_(1).Add(2 * time.Millisecond), Until: min_(2)}}},
		{"to the end swallows what follows", []Span{{From: min_(2), ToEnd: true}, {From: min_(5), Until: min_(9)}, {From: min_(0), Until: min_(1)}},
			[]Span{{From: min_(0), Until: min_(1)}, {From: min_(2), ToEnd: true}}},
		{"a finite span reaching into an open one joins it", []Span{{From: min_(2), ToEnd: true}, {From: min_(0), Until: min_(3)}},
			[]Span{{From: min_(0), ToEnd: true}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var got []Span
			for _, s := range c.in {
				got = addSpan(got, s)
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("got %+v, want %+v", got, c.want)
			}
		})
	}
}

// randomEntries makes entries with facts about a few shards of two streams.
func randomEntries(r *rand.Rand, n int) []Entry {
	var out []Entry
	for range n {
		var e Entry
		arn := []string{arnA, arnB}[r.IntN(2)]
		shard := []string{"s1", "s2", "s3"}[r.IntN(3)]
		switch r.IntN(5) {
		case 0:
			e.Streams = append(e.Streams, Stream{ARN: arn, Created: min_(r.IntN(3)), FirstSeen: min_(r.IntN(100)), ListedAt: min_(r.IntN(100))})
		case 1:
			e.Shards = append(e.Shards, Shard{StreamARN: arn, ID: shard, ParentID: []string{"", "s0"}[r.IntN(2)], FirstSeen: min_(r.IntN(100)),
				BornAfter: min_(r.IntN(100)), Start: []string{"", StartTrimHorizon, StartLatest}[r.IntN(3)], StartedAt: min_(r.IntN(100))})
		case 2:
			from := r.IntN(100)
			e.Marks = append(e.Marks, Mark{StreamARN: arn, ShardID: shard, From: min_(from), Until: min_(from + r.IntN(30)),
				Finished: r.IntN(5) == 0, EndedBy: min_(100 + r.IntN(10)), LastSequence: []string{"100", "2000", "30"}[r.IntN(3)], LastRecordTime: min_(r.IntN(100))})
		case 3:
			e.Gaps = append(e.Gaps, Gap{StreamARN: arn, ShardID: shard, From: min_(r.IntN(50)), To: min_(50 + r.IntN(50)), Cause: CauseTrimmed})
		case 4:
			// Facts of a key agree but for a rare conflicting one.
			k := []string{"orders/changes/a.parquet", "orders/changes/b.parquet", "orders/changes/c.parquet"}[r.IntN(3)]
			sum := "aa" + k
			if r.IntN(10) == 0 {
				sum = "bb" + k
			}
			e.Objects = append(e.Objects, Object{Key: k, Size: int64(len(k)), SHA256: sum})
		}
		out = append(out, e)
	}
	return out
}

func combine(es []Entry) State {
	var s State
	for _, e := range es {
		s.Add(e)
	}
	return s
}

// The package doc promises: combining is order-independent and idempotent, and a
// consolidation (State.Entry) combines to the same state.
func TestState_CombiningIsOrderFreeIdempotentAndConsolidates(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for round := range 300 {
		es := randomEntries(r, 1+r.IntN(25))
		want := combine(es)
		shuffled := append([]Entry(nil), es...)
		r.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		twice := append(shuffled, es[:len(es)/2]...)
		if got := combine(twice); !reflect.DeepEqual(got, want) {
			t.Fatalf("round %d: order or repetition changed the state:\n got %+v\nwant %+v", round, got, want)
		}
		cons := want.Entry("orders", "w", t0)
		if got := combine([]Entry{cons}); !reflect.DeepEqual(got, want) {
			t.Fatalf("round %d: the consolidation does not combine to the state:\n got %+v\nwant %+v", round, got, want)
		}
		// A consolidation read together with what it consolidated changes nothing either.
		if got := combine(append([]Entry{cons}, es...)); !reflect.DeepEqual(got, want) {
			t.Fatalf("round %d: consolidation plus its inputs differs", round)
		}
	}
}

func TestAddMark_KeepsTheShardMaximaAndTheFinish(t *testing.T) {
	var s State
	s.Add(Entry{Marks: []Mark{
		{StreamARN: arnA, ShardID: "s1", From: min_(0), Until: min_(10), LastSequence: "900", LastRecordTime: min_(9)},
		{StreamARN: arnA, ShardID: "s1", From: min_(0), Until: min_(12), Finished: true, EndedBy: min_(13), LastSequence: "1000", LastRecordTime: min_(11)},
		{StreamARN: arnA, ShardID: "s1", From: min_(0), Until: min_(11), Finished: true, EndedBy: min_(14)},
	}})
	c := s.Coverage[ShardKey{arnA, "s1"}]
	want := Coverage{Spans: []Span{{From: min_(0), ToEnd: true}}, OpenUntil: min_(12), Finished: true, EndedBy: min_(13), LastSequence: "1000", LastRecordTime: min_(11)}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("coverage %+v, want %+v", c, want)
	}
	if _, ok := s.Shards[ShardKey{arnA, "s1"}]; !ok {
		t.Error("a mark did not record its shard")
	}
	if _, ok := s.Streams[arnA]; !ok {
		t.Error("a mark did not record its stream")
	}
}

func newDir(t *testing.T) storage.Bucket {
	b, err := dir.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestWriter_FlushReadAndConsolidate(t *testing.T) {
	ctx := context.Background()
	b := newDir(t)
	w1 := NewWriter(b, "orders", "host-1/pid 7", func() time.Time { return t0 })
	w2 := NewWriter(b, "orders", "host-2", nil)
	if err := w1.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if objs, _ := b.List(ctx, Prefix("orders")); len(objs) != 0 {
		t.Fatalf("an empty flush wrote %d objects", len(objs))
	}
	es := randomEntries(rand.New(rand.NewPCG(3, 4)), 40)
	for i, e := range es {
		w := []*Writer{w1, w2}[i%2]
		w.Add(e)
		if i%3 == 0 {
			if err := w.Flush(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, w := range []*Writer{w1, w2} {
		if err := w.Flush(ctx); err != nil {
			t.Fatal(err)
		}
	}
	want := combine(es)
	got, err := Read(ctx, b, "orders")
	if err != nil {
		t.Fatal(err)
	}
	n := got.Objects
	got.Objects = 0
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("read back %+v, want %+v", got, want)
	}
	res, err := w2.Consolidate(ctx, nil)
	if err != nil || res.Replaced != n {
		t.Fatalf("consolidate replaced %d of %d objects: %v", res.Replaced, n, err)
	}
	objs, _ := b.List(ctx, Prefix("orders"))
	if len(objs) != 1 || !strings.Contains(objs[0].Key, "/ledger/state/") {
		t.Fatalf("after consolidation the ledger holds %v, want one state object", objs)
	}
	again, err := Read(ctx, b, "orders")
	if err != nil {
		t.Fatal(err)
	}
	again.Objects = 0
	if !reflect.DeepEqual(again, want) {
		t.Fatalf("after consolidation read %+v, want %+v", again, want)
	}
}

// failingBucket fails the first failures creates.
type failingBucket struct {
	storage.Bucket
	failures int
}

func (f *failingBucket) Create(ctx context.Context, key string, r io.Reader) error {
	if f.failures > 0 {
		f.failures--
		return errors.New("injected failure")
	}
	return f.Bucket.Create(ctx, key, r)
}

func TestWriter_FailedFlushKeepsItsFactsForTheNextOne(t *testing.T) {
	ctx := context.Background()
	b := &failingBucket{Bucket: newDir(t), failures: 1}
	w := NewWriter(b, "orders", "w", nil)
	w.Add(Entry{Streams: []Stream{{ARN: arnA}}})
	if err := w.Flush(ctx); err == nil {
		t.Fatal("flush through a failing bucket succeeded")
	}
	if !w.Pending() {
		t.Fatal("the facts of a failed flush were dropped")
	}
	w.Add(Entry{Streams: []Stream{{ARN: arnB}}})
	if err := w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	st, err := Read(ctx, b, "orders")
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Streams) != 2 {
		t.Fatalf("streams %v, want both", st.Streams)
	}
}

func TestRead_CorruptObjectIsNamed(t *testing.T) {
	ctx := context.Background()
	b := newDir(t)
	key := logPrefix("orders") + "x.json"
	if err := b.Create(ctx, key, strings.NewReader(`{"version":1,"streams":[`)); err != nil {
		t.Fatal(err)
	}
	_, err := Read(ctx, b, "orders")
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "x.json") {
		t.Fatalf("err = %v, want ErrCorrupt naming the object", err)
	}
	if err := b.Put(ctx, key, strings.NewReader(`{"version":99}`)); err != nil {
		t.Fatal(err)
	}
	if _, err := Read(ctx, b, "orders"); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "version 99") {
		t.Fatalf("err = %v, want a refusal of a newer format", err)
	}
}

func TestAddObject_ConflictingFactsAreAllKeptAndTheSmallerIsChecked(t *testing.T) {
	var s State
	a := Object{Key: "k", Size: 3, SHA256: "bbb"}
	b := Object{Key: "k", Size: 3, SHA256: "aaa"}
	s.Add(Entry{Objects: []Object{a, a, b}})
	if s.Files["k"] != b || !reflect.DeepEqual(s.ObjectConflicts["k"], []Object{b, a}) {
		t.Fatalf("files %+v, conflicts %+v; want %+v checked and both listed", s.Files, s.ObjectConflicts, b)
	}
	var again State
	again.Add(s.Entry("orders", "w", t0))
	if !reflect.DeepEqual(again.ObjectConflicts, s.ObjectConflicts) {
		t.Fatalf("a consolidation lost the conflict: %+v", again.ObjectConflicts)
	}
}

func TestWriter_ConsolidateDropsFactsOfFilesThatAreGone(t *testing.T) {
	ctx := context.Background()
	b := newDir(t)
	w := NewWriter(b, "orders", "w", nil)
	for _, k := range []string{"orders/changes/a.parquet", "orders/changes/b.parquet"} {
		w.Add(Entry{Objects: []Object{{Key: k, Size: 1, SHA256: "00"}}})
		if err := w.Flush(ctx); err != nil {
			t.Fatal(err)
		}
	}
	res, err := w.Consolidate(ctx, func(context.Context) (map[string]bool, error) {
		return map[string]bool{"orders/changes/b.parquet": true}, nil
	})
	if err != nil || res.Replaced != 2 || res.Pruned != 1 {
		t.Fatalf("Consolidate = %+v, %v; want 2 replaced, 1 pruned", res, err)
	}
	st, err := Read(ctx, b, "orders")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := st.Files["orders/changes/a.parquet"]; ok || len(st.Files) != 1 {
		t.Fatalf("files after consolidation: %v, want only b", st.Files)
	}
}

// lockedDir is a directory whose objects are held until until[key], as under S3 Object
// Lock: a held object's delete is refused.
type lockedDir struct {
	storage.Bucket
	until map[string]time.Time
	now   time.Time
}

func (l *lockedDir) LockConfig(context.Context) (storage.LockConfig, error) {
	return storage.LockConfig{Enabled: true}, nil
}

func (l *lockedDir) Retention(_ context.Context, key string) (storage.Retention, error) {
	if u, ok := l.until[key]; ok {
		return storage.Retention{Mode: storage.LockCompliance, Until: u}, nil
	}
	return storage.Retention{}, nil
}

func (l *lockedDir) Delete(ctx context.Context, key string) error {
	if u, ok := l.until[key]; ok && u.After(l.now) {
		return storage.ErrLocked
	}
	return l.Bucket.Delete(ctx, key)
}

// Under Object Lock consolidation replaces the objects whose retention ended, oldest
// first, leaves the held ones, and writes nothing when fewer than two can go; readers
// get the same answer throughout.
func TestWriter_ConsolidateUnderObjectLockReplacesOnlyWhatItsLockReleased(t *testing.T) {
	ctx := context.Background()
	lb := &lockedDir{Bucket: newDir(t), until: map[string]time.Time{}, now: t0}
	w := NewWriter(lb, "orders", "w", func() time.Time { return lb.now })
	es := randomEntries(rand.New(rand.NewPCG(5, 6)), 6)
	for i, e := range es {
		w.Add(e)
		if err := w.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond) // distinct modification times, in order
		objs, _ := lb.List(ctx, Prefix("orders"))
		for _, o := range objs {
			if _, ok := lb.until[o.Key]; !ok {
				lb.until[o.Key] = t0.Add(time.Duration(i+1) * time.Hour)
			}
		}
	}
	want := combine(es)
	check := func(when string) {
		got, err := Read(ctx, lb, "orders")
		if err != nil {
			t.Fatal(err)
		}
		got.Objects = 0
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%s: read %+v, want %+v", when, got, want)
		}
	}
	lb.now = t0.Add(90 * time.Minute) // only the first object's lock has ended
	res, err := w.Consolidate(ctx, nil)
	if err != nil || res.Replaced != 0 || res.Locked != 5 || !res.LockedUntil.Equal(t0.Add(2*time.Hour)) {
		t.Fatalf("Consolidate with one object free = %+v, %v; want nothing replaced, 5 locked until %s", res, err, t0.Add(2*time.Hour))
	}
	check("nothing replaced")
	lb.now = t0.Add(3*time.Hour + time.Minute) // three are free
	res, err = w.Consolidate(ctx, nil)
	if err != nil || res.Replaced != 3 || res.Locked != 3 {
		t.Fatalf("Consolidate with three free = %+v, %v; want 3 replaced, 3 held", res, err)
	}
	check("three replaced")
	objs, _ := lb.List(ctx, Prefix("orders"))
	if len(objs) != 4 {
		t.Fatalf("the ledger holds %d objects, want the state and the 3 held", len(objs))
	}
}
