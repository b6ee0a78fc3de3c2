package replicator

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"

	"github.com/ddbtape/ddbtape/catalog"
	"github.com/ddbtape/ddbtape/checkpoint"
	checkpointfile "github.com/ddbtape/ddbtape/checkpoint/file"
	"github.com/ddbtape/ddbtape/internal/fakestreams"
	"github.com/ddbtape/ddbtape/ledger"
	"github.com/ddbtape/ddbtape/retry"
	"github.com/ddbtape/ddbtape/shards"
	"github.com/ddbtape/ddbtape/storage"
	"github.com/ddbtape/ddbtape/storage/dir"
	"github.com/ddbtape/ddbtape/writer"
)

// fixture is a fake stream with one table, a directory bucket and a file checkpoint store.
type fixture struct {
	fake      *fakestreams.Server
	table     string
	streamARN string
	bucket    storage.Bucket
	store     *checkpointfile.Store
}

func newFixture(t *testing.T, shardIDs ...string) *fixture {
	t.Helper()
	return newFixtureAt(t, fastClock(), shardIDs...)
}

// fastClock is a DynamoDB clock that runs 200 times faster than the real one: coverage
// trails DynamoDB's clock by a stamp margin (a minute), and --until-idle waits for it,
// which this clock makes a fraction of a second.
func fastClock() func() time.Time {
	start := time.Now()
	return func() time.Time { return start.Add(200 * time.Since(start)) }
}

// newFixtureAt is newFixture with the fake's clock (DynamoDB's) set by now (nil: the real one).
func newFixtureAt(t *testing.T, now func() time.Time, shardIDs ...string) *fixture {
	t.Helper()
	fake := fakestreams.NewServer(fakestreams.Options{Now: now})
	t.Cleanup(fake.Close)
	arn, err := fake.CreateTable(fakestreams.TableSpec{Name: "orders", StreamViewType: "NEW_AND_OLD_IMAGES"})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range shardIDs {
		if err := fake.AddShard(arn, id, ""); err != nil {
			t.Fatal(err)
		}
	}
	b, err := dir.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{fake: fake, table: "orders", streamARN: arn, bucket: b, store: checkpointfile.New(b, writer.CheckpointsPrefix("orders"))}
}

func (f *fixture) capture(t *testing.T, bucket storage.Bucket, mutate func(*Config)) *Capture {
	t.Helper()
	cfg := Config{
		Table:     f.table,
		Roll:      writer.RollPolicy{MaxRecords: 7, MaxBytes: 1 << 20, MaxAge: time.Minute},
		UntilIdle: 300 * time.Millisecond,
		SpoolDir:  t.TempDir(),
		Reader:    shards.Reader{PollInterval: 5 * time.Millisecond, MaxIdleInterval: 20 * time.Millisecond, RetryBound: 10 * time.Second},
		Logger:    slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	if testing.Verbose() {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	if mutate != nil {
		mutate(&cfg)
	}
	awsCfg := f.fake.Config()
	c, err := NewCapture(cfg, dynamodb.NewFromConfig(awsCfg), dynamodbstreams.NewFromConfig(awsCfg), bucket, f.store)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (f *fixture) run(t *testing.T, mutate func(*Config)) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return f.capture(t, f.bucket, mutate).Run(ctx)
}

func item(key string, n int) fakestreams.Record {
	k := map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: key}}
	img := map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: key}, "n": &types.AttributeValueMemberN{Value: fmt.Sprint(n)}}
	return fakestreams.Record{EventName: "MODIFY", Keys: k, NewImage: img, OldImage: img}
}

// stored reads every segment back: shard -> rows in file order.
func (f *fixture) stored(t *testing.T) map[string][]writer.Change {
	t.Helper()
	ctx := context.Background()
	objs, err := f.bucket.List(ctx, writer.ChangesPrefix(f.table))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]writer.Change{}
	for _, o := range objs {
		if _, ok := writer.ParseSegmentKey(o.Key); !ok {
			t.Fatalf("unexpected object %s", o.Key)
		}
		rc, err := f.bucket.Open(ctx, o.Key)
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(rc)
		rc.Close()
		changes, err := writer.ReadChanges(data)
		if err != nil {
			t.Fatalf("%s: %v", o.Key, err)
		}
		for _, c := range changes {
			out[c.ShardID] = append(out[c.ShardID], c)
		}
	}
	return out
}

func seqs(changes []writer.Change) []string {
	out := make([]string, len(changes))
	for i, c := range changes {
		out[i] = c.SequenceNumber
	}
	return out
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestCapture_SplitMidReadKeepsParentBeforeChildren(t *testing.T) {
	parent := fakestreams.ShardID(1)
	f := newFixture(t, parent)
	for i := 0; i < 30; i++ {
		if _, err := f.fake.Put(f.streamARN, item(fmt.Sprintf("k%d", i%10), i)); err != nil {
			t.Fatal(err)
		}
	}
	left, right := fakestreams.ShardID(2), fakestreams.ShardID(3)
	var split atomic.Bool
	f.fake.OnGetRecords(func(shardID string) {
		if shardID == parent && split.CompareAndSwap(false, true) {
			// The split happens while the parent is being read: records for the same
			// keys now go to the children.
			if err := f.fake.Split(parent, left, right); err != nil {
				t.Error(err)
			}
			for i := 30; i < 60; i++ {
				if _, err := f.fake.Put(f.streamARN, item(fmt.Sprintf("k%d", i%10), i)); err != nil {
					t.Error(err)
				}
			}
		}
	})
	if err := f.run(t, nil); err != nil {
		t.Fatal(err)
	}
	got := f.stored(t)
	for _, id := range []string{parent, left, right} {
		if want := f.fake.Records(id); !equalStrings(seqs(got[id]), want) {
			t.Errorf("shard %s: stored %v, stream has %v", id, seqs(got[id]), want)
		}
	}
	if n := len(got[left]) + len(got[right]); n != 30 {
		t.Fatalf("children hold %d records, want 30", n)
	}
	// Parent first: every child record was received after the parent's last one.
	lastParent := got[parent][len(got[parent])-1].CapturedAt
	for _, id := range []string{left, right} {
		for _, c := range got[id] {
			if c.CapturedAt.Before(lastParent) {
				t.Fatalf("child %s record %s captured at %s, before the parent's end at %s", id, c.SequenceNumber, c.CapturedAt, lastParent)
			}
		}
	}
	state, err := f.store.Load(context.Background(), f.table)
	if err != nil {
		t.Fatal(err)
	}
	p := state.Shards[parent]
	if !p.Finished || p.SequenceNumber != got[parent][len(got[parent])-1].SequenceNumber {
		t.Errorf("parent checkpoint %+v: want finished at its last record", p)
	}
	for _, id := range []string{left, right} {
		c := state.Shards[id]
		if c.Finished || c.ParentShardID != parent || c.CoveredUntil.IsZero() || !c.CoveredFrom.Equal(p.CoveredFrom) {
			t.Errorf("child checkpoint %+v: want open, parent %s, covered, coverage inherited from %s", c, parent, p.CoveredFrom)
		}
	}
}

func TestCapture_SurvivesThrottlingServerErrorsResetsAndExpiredIterators(t *testing.T) {
	id := fakestreams.ShardID(1)
	f := newFixture(t, id)
	for i := 0; i < 40; i++ {
		if _, err := f.fake.AppendRecords(id, item(fmt.Sprintf("k%d", i), i)); err != nil {
			t.Fatal(err)
		}
	}
	for _, fault := range fakestreams.ThrottlingFaults {
		f.fake.FailNext(fakestreams.OpGetRecords, 3, fault)
	}
	f.fake.FailNext(fakestreams.OpGetRecords, 2, fakestreams.InternalServerError)
	f.fake.FailNext(fakestreams.OpGetRecords, 2, fakestreams.ConnectionReset)
	f.fake.FailNext(fakestreams.OpGetShardIterator, 2, fakestreams.ServiceUnavailable)
	f.fake.FailNext(fakestreams.OpDescribeStream, 1, fakestreams.Throttling)
	var calls atomic.Int32
	f.fake.OnGetRecords(func(string) {
		if calls.Add(1) == 20 {
			f.fake.ExpireIterators()
		}
	})
	// Retries wait a fiftieth of what they would; the retry bound is generous so the
	// storm is ridden out.
	fast := func(c *Config) {
		c.Reader.Limit = 3
		c.Reader.RetryBound = 10 * time.Minute
		c.Reader.Sleep = func(ctx context.Context, d time.Duration) error {
			select {
			case <-time.After(d / 50):
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	if err := f.run(t, fast); err != nil {
		t.Fatal(err)
	}
	if got, want := seqs(f.stored(t)[id]), f.fake.Records(id); !equalStrings(got, want) {
		t.Fatalf("stored %d records %v, stream has %d", len(got), got, len(want))
	}
}

func TestCapture_TrimmedRecordsAreRecordedAsAGap(t *testing.T) {
	id := fakestreams.ShardID(1)
	f := newFixture(t, id)
	first, err := f.fake.AppendRecords(id, item("a", 1), item("b", 2), item("c", 3))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.run(t, nil); err != nil {
		t.Fatal(err)
	}
	// While ddbtape is down, records arrive and the oldest of them are trimmed.
	lost, err := f.fake.AppendRecords(id, item("d", 4), item("e", 5))
	if err != nil {
		t.Fatal(err)
	}
	later, err := f.fake.AppendRecords(id, item("f", 6), item("g", 7))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.fake.Trim(id, lost[1]); err != nil {
		t.Fatal(err)
	}
	rec := &countingRecorder{}
	if err := f.run(t, func(c *Config) { c.Metrics = rec }); err != nil {
		t.Fatal(err)
	}
	if len(rec.gaps) != 1 || rec.gaps[0] != ledger.CauseTrimmed {
		t.Errorf("gaps reported with causes %v, want one %s", rec.gaps, ledger.CauseTrimmed)
	}
	if got, want := seqs(f.stored(t)[id]), append(first, later...); !equalStrings(got, want) {
		t.Fatalf("stored %v, want what was readable %v", got, want)
	}
	state, err := f.store.Load(context.Background(), f.table)
	if err != nil {
		t.Fatal(err)
	}
	if len(state.Gaps) != 1 || state.Gaps[0].ShardID != id || state.Gaps[0].AfterSequence != first[2] {
		t.Fatalf("gaps %+v: want one gap on %s after %s", state.Gaps, id, first[2])
	}
	if p := state.Shards[id]; p.SequenceNumber != later[1] {
		t.Errorf("checkpoint at %s, want %s", p.SequenceNumber, later[1])
	}
}

func TestCapture_VanishedShardIsAGapAndNoLongerHoldsBackChildren(t *testing.T) {
	parent := fakestreams.ShardID(1)
	f := newFixture(t, parent)
	done, err := f.fake.AppendRecords(parent, item("a", 1))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.run(t, nil); err != nil {
		t.Fatal(err)
	}
	// Down for more than a day: the parent closed, its unread tail and then the parent
	// itself were removed by retention; the child is what is left.
	if _, err := f.fake.AppendRecords(parent, item("b", 2)); err != nil {
		t.Fatal(err)
	}
	child := fakestreams.ShardID(2)
	if err := f.fake.Split(parent, child); err != nil {
		t.Fatal(err)
	}
	kept, err := f.fake.AppendRecords(child, item("c", 3))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.fake.RemoveShard(parent); err != nil {
		t.Fatal(err)
	}
	rec := &countingRecorder{}
	if err := f.run(t, func(c *Config) { c.Metrics = rec }); err != nil {
		t.Fatal(err)
	}
	if len(rec.gaps) != 1 || rec.gaps[0] != ledger.CauseVanished {
		t.Errorf("gaps reported with causes %v, want one %s", rec.gaps, ledger.CauseVanished)
	}
	got := f.stored(t)
	if !equalStrings(seqs(got[parent]), done) || !equalStrings(seqs(got[child]), kept) {
		t.Fatalf("stored %v / %v, want %v / %v", seqs(got[parent]), seqs(got[child]), done, kept)
	}
	state, err := f.store.Load(context.Background(), f.table)
	if err != nil {
		t.Fatal(err)
	}
	if len(state.Gaps) != 1 || state.Gaps[0].ShardID != parent || state.Gaps[0].AfterSequence != done[0] {
		t.Fatalf("gaps %+v: want one on the vanished parent after %s", state.Gaps, done[0])
	}
	if !state.Shards[parent].Finished {
		t.Errorf("vanished parent should be marked done so it no longer bounds the window")
	}
}

// failingBucket fails Create once `left` segments or checkpoints were created:
// `failures` times, or for ever. The capture lock passes.
type failingBucket struct {
	storage.Bucket
	left     atomic.Int32
	failures atomic.Int32
	forever  bool
}

var errInjected = errors.New("injected storage failure")

func (b *failingBucket) Create(ctx context.Context, key string, r io.Reader) error {
	if !strings.Contains(key, "/changes/") {
		return b.Bucket.Create(ctx, key, r) // the ledger: its failures are tested apart
	}
	if b.left.Add(-1) < 0 && (b.forever || b.failures.Add(-1) >= 0) {
		io.Copy(io.Discard, r)
		return errInjected
	}
	return b.Bucket.Create(ctx, key, r)
}

func TestCapture_RetriesStorageOutageWithoutLosingRecords(t *testing.T) {
	id := fakestreams.ShardID(1)
	f := newFixture(t, id)
	var all []string
	for i := 0; i < 30; i++ {
		s, err := f.fake.AppendRecords(id, item(fmt.Sprintf("k%d", i), i))
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, s...)
	}
	fb := &failingBucket{Bucket: f.bucket}
	fb.left.Store(1)
	fb.failures.Store(6) // an outage of six attempts after the first segment
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	fast := func(c *Config) {
		c.Sleep = func(ctx context.Context, d time.Duration) error { return retry.Sleep(ctx, d/100) }
	}
	if err := f.capture(t, fb, fast).Run(ctx); err != nil {
		t.Fatalf("capture should ride out the outage: %v", err)
	}
	if fb.failures.Load() >= 0 {
		t.Fatalf("the outage was not hit (failures left %d)", fb.failures.Load())
	}
	if got := seqs(f.stored(t)[id]); !equalStrings(got, all) {
		t.Fatalf("stored %d records, want %d", len(got), len(all))
	}
}

func TestCapture_CheckpointNeverPassesARecordThatIsNotStored(t *testing.T) {
	id := fakestreams.ShardID(1)
	f := newFixture(t, id)
	var all []string
	for i := 0; i < 50; i++ {
		s, err := f.fake.AppendRecords(id, item(fmt.Sprintf("k%d", i), i))
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, s...)
	}
	fb := &failingBucket{Bucket: f.bucket}
	fb.left.Store(3)
	fb.forever = true
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rec := &countingRecorder{}
	err := f.capture(t, fb, func(c *Config) { c.StoreRetryBound = 300 * time.Millisecond; c.Metrics = rec }).Run(ctx)
	if !errors.Is(err, errInjected) {
		t.Fatalf("capture returned %v, want the storage failure", err)
	}
	// The read loop's store gives up, and so may the final flush after it.
	if got := rec.exhaustedOps(); len(got) == 0 || slices.ContainsFunc(got, func(op string) bool { return op != "segment" }) {
		t.Errorf("retries that gave up reported %v, want segment only", got)
	}
	stored := seqs(f.stored(t)[id])
	if !equalStrings(stored, all[:len(stored)]) || len(stored) != 21 {
		t.Fatalf("stored %d records, want the first 3 segments of 7", len(stored))
	}
	state, err := f.store.Load(ctx, f.table)
	if err != nil {
		t.Fatal(err)
	}
	if got := state.Shards[id].SequenceNumber; got != stored[len(stored)-1] {
		t.Fatalf("checkpoint at %s, last stored record %s", got, stored[len(stored)-1])
	}
	// Once storage works again, a new run resumes from the checkpoint and loses nothing.
	if err := f.run(t, nil); err != nil {
		t.Fatal(err)
	}
	if got := seqs(f.stored(t)[id]); !equalStrings(got, all) {
		t.Fatalf("after resume stored %d records, want %d", len(got), len(all))
	}
}

func TestCapture_StopsOnCancelAfterStoringWhatItRead(t *testing.T) {
	id := fakestreams.ShardID(1)
	f := newFixture(t, id)
	want, err := f.fake.AppendRecords(id, item("a", 1), item("b", 2))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := f.capture(t, f.bucket, func(c *Config) { c.UntilIdle = 0; c.Roll.MaxRecords = 1000 })
	errc := make(chan error, 1)
	go func() { errc <- c.Run(ctx) }()
	deadline := time.Now().Add(20 * time.Second)
	for c.Stats().Records < 2 {
		if time.Now().After(deadline) {
			t.Fatal("capture read nothing")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel() // SIGTERM
	if err := <-errc; err != nil {
		t.Fatalf("a stop is a normal exit, got %v", err)
	}
	if got := seqs(f.stored(t)[id]); !equalStrings(got, want) {
		t.Fatalf("stored %v after stop, want %v", got, want)
	}
	state, _ := f.store.Load(context.Background(), f.table)
	if state.Shards[id].SequenceNumber != want[1] {
		t.Fatalf("checkpoint %+v, want at %s", state.Shards[id], want[1])
	}
}

func TestCapture_StreamReplacedKeepsTheOldEraAndRecordsWhatWasLost(t *testing.T) {
	id := fakestreams.ShardID(1)
	f := newFixture(t, id)
	if _, err := f.fake.AppendRecords(id, item("a", 1)); err != nil {
		t.Fatal(err)
	}
	// An earlier capture followed another stream of this table, now gone, with a shard it
	// had not read to its end.
	ctx := context.Background()
	oldEnd := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
	old := "arn:aws:dynamodb:us-east-1:123456789012:table/" + f.table + "/stream/2020-01-01T00:00:00.000"
	if err := f.store.Save(ctx, f.table, checkpoint.Position{StreamARN: old, ShardID: "shardId-old", CoveredFrom: oldEnd.Add(-time.Hour), CoveredUntil: oldEnd, UpdatedAt: oldEnd}); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := f.run(t, func(c *Config) { c.Logger = slog.New(slog.NewTextHandler(&buf, nil)) }); err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(buf.Bytes(), []byte("stream was replaced")) {
		t.Errorf("log does not say the stream was replaced:\n%s", buf.String())
	}
	if got := f.stored(t)[id]; len(got) != 1 {
		t.Errorf("the new stream's record should be captured, got %d", len(got))
	}
	l, err := catalog.List(ctx, f.bucket, nil, f.table)
	if err != nil {
		t.Fatal(err)
	}
	st := catalog.Summarize(l)
	if len(st.Streams) != 2 || st.Streams[0].ARN != old || !st.Streams[0].Replaced || st.Streams[1].ARN != f.streamARN {
		t.Fatalf("streams %+v: want the old one replaced by %s", st.Streams, f.streamARN)
	}
	var vanished, era bool
	for _, g := range st.Gaps {
		vanished = vanished || g.ShardID == "shardId-old" && g.Cause == ledger.CauseVanished && g.From.Equal(oldEnd)
		era = era || g.ShardID == ledger.AllShards && g.StreamARN == f.streamARN
	}
	if !vanished || !era {
		t.Fatalf("gaps %+v: want the old shard lost from %s and the time between the streams", st.Gaps, oldEnd)
	}
}

func TestCoveredUntil(t *testing.T) {
	at := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	var zero time.Time
	cases := []struct {
		name                           string
		known, readThrough, lastStored time.Time
		want                           time.Time
	}{
		{"nothing yet", zero, zero, zero, zero},
		{"empty poll", zero, at("2026-11-21T10:00:05Z"), zero, at("2026-11-21T10:00:05Z")},
		{"busy shard: just before the last stored stamp", zero, zero, at("2026-11-21T10:00:07Z"), at("2026-11-21T10:00:06.999Z")},
		{"never backwards", at("2026-11-21T10:00:09Z"), at("2026-11-21T10:00:05Z"), at("2026-11-21T10:00:07Z"), at("2026-11-21T10:00:09Z")},
		{"the later of poll and stamp", zero, at("2026-11-21T10:00:08Z"), at("2026-11-21T10:00:07Z"), at("2026-11-21T10:00:08Z")},
	}
	for _, c := range cases {
		if got := coveredUntil(c.known, c.readThrough, c.lastStored); !got.Equal(c.want) {
			t.Errorf("%s: got %s, want %s", c.name, got, c.want)
		}
	}
}

func TestCapture_BusyShardStillAdvancesCoverage(t *testing.T) {
	id := fakestreams.ShardID(1)
	f := newFixture(t, id)
	base := time.Now().UTC().Truncate(time.Second).Add(-time.Minute)
	for i := 0; i < 20; i++ {
		r := item(fmt.Sprintf("k%d", i), i)
		r.CreatedAt = base.Add(time.Duration(i) * time.Second)
		if _, err := f.fake.AppendRecords(id, r); err != nil {
			t.Fatal(err)
		}
	}
	// Never an empty poll: the capture is stopped while records still flow, so only the
	// stored records' stamps can move the covered edge.
	ctx, cancel := context.WithCancel(context.Background())
	c := f.capture(t, f.bucket, func(c *Config) { c.UntilIdle = 0 })
	var more atomic.Int32
	f.fake.OnGetRecords(func(string) {
		// Every poll finds a new record waiting.
		n := more.Add(1)
		r := item("busy", int(n))
		r.CreatedAt = base.Add(time.Duration(19+n) * time.Second)
		if _, err := f.fake.AppendRecords(id, r); err != nil {
			t.Error(err)
		}
		if c.Stats().Records >= 20 {
			cancel()
		}
	})
	if err := c.Run(ctx); err != nil {
		t.Fatal(err)
	}
	state, err := f.store.Load(context.Background(), f.table)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := state.Shards[id].CoveredUntil, base.Add(19*time.Second-time.Millisecond); got.Before(want) {
		t.Fatalf("covered until %s, want at least %s (just before the last stored stamp)", got, want)
	}
}

// Issue #12, 1: --start latest applies only to the shards of the first listing; a child
// that appears later (a split, or the four-hourly rollover) is read from its start, so
// its first records are stored.
func TestCapture_StartLatestReadsShardsThatAppearLaterFromTheirStart(t *testing.T) {
	root, left, right := fakestreams.ShardID(1), fakestreams.ShardID(2), fakestreams.ShardID(3)
	f := newFixture(t, root)
	if _, err := f.fake.AppendRecords(root, item("before", 1)); err != nil { // before the start: not read
		t.Fatal(err)
	}
	var want []string
	split := make(chan struct{})
	var once sync.Once
	// Once the root was polled from LATEST, it splits and both children get records at once.
	f.fake.OnGetRecords(func(shard string) {
		if shard != root {
			return
		}
		once.Do(func() {
			s, err := f.fake.AppendRecords(root, item("after", 2))
			if err != nil {
				t.Error(err)
			}
			want = append(want, s...)
			if err := f.fake.Split(root, left, right); err != nil {
				t.Error(err)
			}
			for _, id := range []string{left, right} {
				s, err := f.fake.AppendRecords(id, item("child-"+id, 3), item("child2-"+id, 4))
				if err != nil {
					t.Error(err)
				}
				want = append(want, s...)
			}
			close(split)
		})
	})
	if err := f.run(t, func(c *Config) { c.StartLatest = true; c.RelistInterval = 10 * time.Millisecond }); err != nil {
		t.Fatal(err)
	}
	<-split
	var got []string
	for _, id := range []string{root, left, right} {
		got = append(got, seqs(f.stored(t)[id])...)
	}
	sort.Strings(got)
	sort.Strings(want)
	if !equalStrings(got, want) {
		t.Fatalf("stored %v, want every record written after the start %v (the children's first records included)", got, want)
	}
}

// Issue #12, 2: a quiet shard has a position without a sequence number. When capture comes
// back after more than the retention, records written and trimmed meanwhile are gone
// without any TrimmedDataAccessException (TRIM_HORIZON never raises it): continuity
// cannot be proven, so a gap is recorded and said.
func TestCapture_RestartPastTheRetentionOnAQuietShardRecordsAGap(t *testing.T) {
	id := fakestreams.ShardID(1)
	// DynamoDB's clock runs fast (see fastClock) and jumps below.
	var mu sync.Mutex
	var jump time.Duration
	start, base := time.Now(), time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return base.Add(jump + 200*time.Since(start)) }
	f := newFixtureAt(t, clock, id)
	if err := f.run(t, nil); err != nil { // reads nothing: the shard is quiet
		t.Fatal(err)
	}
	state, err := f.store.Load(context.Background(), f.table)
	if err != nil {
		t.Fatal(err)
	}
	if p := state.Shards[id]; p.SequenceNumber != "" || p.CoveredUntil.IsZero() {
		t.Fatalf("position %+v: want a quiet shard covered without a sequence number", p)
	}
	// Capture is down for 25 hours; a record is written and trimmed meanwhile.
	mu.Lock()
	jump += 2 * time.Hour
	mu.Unlock()
	lost, err := f.fake.AppendRecords(id, item("lost", 1))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.fake.Trim(id, lost[0]); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	jump += 23 * time.Hour
	mu.Unlock()
	var buf bytes.Buffer
	if err := f.run(t, func(c *Config) { c.Logger = slog.New(slog.NewTextHandler(&buf, nil)) }); err != nil {
		t.Fatal(err)
	}
	state, err = f.store.Load(context.Background(), f.table)
	if err != nil {
		t.Fatal(err)
	}
	if len(state.Gaps) != 1 || state.Gaps[0].ShardID != id {
		t.Fatalf("gaps %+v: want one for shard %s", state.Gaps, id)
	}
	if !strings.Contains(buf.String(), "gap in the backup") {
		t.Errorf("the log does not say so:\n%s", buf.String())
	}
}
