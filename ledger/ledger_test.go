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
		switch r.IntN(4) {
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
	replaced, err := w2.Consolidate(ctx)
	if err != nil || replaced != n {
		t.Fatalf("consolidate replaced %d of %d objects: %v", replaced, n, err)
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
