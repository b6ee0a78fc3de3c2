package replicator

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"

	"github.com/ddbtape/ddbtape/checkpoint"
	ckdynamo "github.com/ddbtape/ddbtape/checkpoint/dynamodb"
	"github.com/ddbtape/ddbtape/internal/ddblocal"
	"github.com/ddbtape/ddbtape/internal/fakestreams"
	"github.com/ddbtape/ddbtape/shards"
	"github.com/ddbtape/ddbtape/storage"
	"github.com/ddbtape/ddbtape/writer"
)

// The lease tests keep checkpoints and leases in DynamoDB Local, as a fleet does.
func TestMain(m *testing.M) { ddblocal.Main(m) }

// events is the order in which things happened, across goroutines.
type events struct {
	mu   sync.Mutex
	list []string
}

func (e *events) add(s string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.list = append(e.list, s)
}

func (e *events) all() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.list)
}

// first is the index of the first event starting with prefix, -1 if none.
func (e *events) first(prefix string) int {
	return slices.IndexFunc(e.all(), func(s string) bool { return strings.HasPrefix(s, prefix) })
}

// last is the index of the last event starting with prefix, -1 if none.
func (e *events) last(prefix string) int {
	list := e.all()
	for i := len(list) - 1; i >= 0; i-- {
		if strings.HasPrefix(list[i], prefix) {
			return i
		}
	}
	return -1
}

// recordingBucket notes every segment stored ("segment SHARD FIRST-LAST"), and calls
// after (if set) once it is durable.
type recordingBucket struct {
	storage.Bucket
	ev    *events
	after func(name writer.SegmentName)
}

func (b *recordingBucket) Create(ctx context.Context, key string, r io.Reader) error {
	err := b.Bucket.Create(ctx, key, r)
	if name, ok := writer.ParseSegmentKey(key); ok && (err == nil || errors.Is(err, storage.ErrExists)) {
		b.ev.add(fmt.Sprintf("segment %s %s-%s", name.ShardID, strings.TrimLeft(name.FirstSeq, "0"), strings.TrimLeft(name.LastSeq, "0")))
		if b.after != nil {
			b.after(name)
		}
	}
	return err
}

// recordingStoreAPI notes every checkpoint the store saved ("checkpoint SHARD").
type recordingStoreAPI struct {
	ckdynamo.API
	ev *events
}

func (a recordingStoreAPI) UpdateItem(ctx context.Context, in *ddb.UpdateItemInput, optFns ...func(*ddb.Options)) (*ddb.UpdateItemOutput, error) {
	out, err := a.API.UpdateItem(ctx, in, optFns...)
	if err == nil {
		a.ev.add("checkpoint " + ckdynamo.ShardOfKey(in.Key))
	}
	return out, err
}

// recordingLeases notes StopTaking, Release and the moment the heartbeat is told to stop.
type recordingLeases struct {
	*ckdynamo.Leases
	ev               *events
	heartbeatStopped chan struct{}
}

func (r *recordingLeases) Run(ctx context.Context) error {
	context.AfterFunc(ctx, func() {
		r.ev.add("heartbeat stopped")
		close(r.heartbeatStopped)
	})
	return r.Leases.Run(ctx)
}

func (r *recordingLeases) StopTaking() {
	r.ev.add("stop taking")
	r.Leases.StopTaking()
}

func (r *recordingLeases) Release(ctx context.Context) error {
	r.ev.add("release")
	return r.Leases.Release(ctx)
}

// leaseAPI is the lease manager's DynamoDB client with a hook around its writes.
type leaseAPI struct {
	ckdynamo.LeaseAPI
	update func(ctx context.Context, in *ddb.UpdateItemInput, call func(context.Context) (*ddb.UpdateItemOutput, error)) (*ddb.UpdateItemOutput, error)
}

func (a leaseAPI) UpdateItem(ctx context.Context, in *ddb.UpdateItemInput, optFns ...func(*ddb.Options)) (*ddb.UpdateItemOutput, error) {
	return a.update(ctx, in, func(ctx context.Context) (*ddb.UpdateItemOutput, error) {
		return a.LeaseAPI.UpdateItem(ctx, in, optFns...)
	})
}

func testLogger() *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return slog.New(slog.DiscardHandler)
}

var leaseTables atomic.Int64

// newLeaseStore creates a fresh checkpoint table on the shared DynamoDB Local, written
// through api (nil: the plain client).
func newLeaseStore(t *testing.T, api ckdynamo.API) *ckdynamo.Store {
	t.Helper()
	if api == nil {
		api = ddblocal.Shared(t).DynamoDB()
	}
	name := fmt.Sprintf("capture-leases-%d-%d", time.Now().UnixNano()%1e9, leaseTables.Add(1))
	store, err := ckdynamo.New(api, name, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := store.EnsureTable(t.Context(), true, time.Minute); err != nil {
		t.Fatal(err)
	}
	return store
}

// captureWith is a capture of f's table checkpointing into store, reading only the shards
// leases holds (nil: every shard).
func (f *fixture) captureWith(t *testing.T, bucket storage.Bucket, store checkpoint.Store, leases Leases, mutate func(*Config)) *Capture {
	t.Helper()
	cfg := Config{
		Table:     f.table,
		Roll:      writer.RollPolicy{MaxRecords: 7, MaxBytes: 1 << 20, MaxAge: time.Minute},
		UntilIdle: 300 * time.Millisecond,
		SpoolDir:  t.TempDir(),
		Reader:    shards.Reader{PollInterval: 5 * time.Millisecond, MaxIdleInterval: 20 * time.Millisecond, RetryBound: 10 * time.Second},
		Leases:    leases,
		Logger:    testLogger(),
	}
	if mutate != nil {
		mutate(&cfg)
	}
	awsCfg := f.fake.Config()
	c, err := NewCapture(cfg, ddb.NewFromConfig(awsCfg), dynamodbstreams.NewFromConfig(awsCfg), bucket, store)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// waitFor polls cond until it holds, failing the test after a generous deadline.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up after a minute waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func leaseOwners(t *testing.T, store *ckdynamo.Store, table string) map[string]string {
	t.Helper()
	infos, err := store.ListLeases(t.Context(), table)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, in := range infos {
		out[in.ShardID] = in.Owner
	}
	return out
}

// A SIGTERM that arrives while the heartbeat is taking a lease (another worker's expired
// one): the capture stops taking, flushes what it read, and only then releases, and the
// lease whose take was in flight is released too. On a busy machine the take's answer
// comes late, after the heartbeat was told to stop; cutting the write off then left the
// lease owned by a stopped worker for a whole lease duration.
func TestCapture_GracefulStopStopsTakingFlushesThenReleasesEveryLease(t *testing.T) {
	s1, s2 := fakestreams.ShardID(1), fakestreams.ShardID(2)
	f := newFixture(t, s1, s2)
	want, err := f.fake.AppendRecords(s1, item("a", 1), item("b", 2), item("c", 3), item("d", 4), item("e", 5))
	if err != nil {
		t.Fatal(err)
	}
	ev := &events{}
	store := newLeaseStore(t, recordingStoreAPI{API: ddblocal.Shared(t).DynamoDB(), ev: ev})
	db := ddblocal.Shared(t).DynamoDB()

	// Worker b took s2 and died: its lease expires after a lease duration.
	b, err := ckdynamo.NewLeases(db, store, ckdynamo.LeaseConfig{Table: f.table, WorkerID: "b", Duration: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Track(t.Context(), f.streamARN, []shards.Shard{{ID: s2}}); err != nil {
		t.Fatal(err)
	}
	if err := b.Heartbeat(t.Context()); err != nil || len(b.Held()) != 1 {
		t.Fatalf("b did not take s2: %v", err)
	}

	taking := make(chan struct{})
	rec := &recordingLeases{ev: ev, heartbeatStopped: make(chan struct{})}
	api := leaseAPI{LeaseAPI: db, update: func(ctx context.Context, in *ddb.UpdateItemInput, call func(context.Context) (*ddb.UpdateItemOutput, error)) (*ddb.UpdateItemOutput, error) {
		if in.ReturnValues != types.ReturnValueAllNew || !strings.HasSuffix(ckdynamo.ShardOfKey(in.Key), s2) {
			return call(ctx)
		}
		// The take of b's expired lease: DynamoDB applies it, but its answer comes only
		// after the heartbeat was told to stop.
		close(taking)
		<-rec.heartbeatStopped
		out, err := call(context.WithoutCancel(ctx))
		if ctx.Err() != nil {
			return nil, ctx.Err() // a caller that stopped waiting never learns it took the lease
		}
		return out, err
	}}
	a, err := ckdynamo.NewLeases(api, store, ckdynamo.LeaseConfig{Table: f.table, WorkerID: "a", Duration: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	rec.Leases = a
	bucket := &recordingBucket{Bucket: f.bucket, ev: ev}
	c := f.captureWith(t, bucket, store, rec, func(c *Config) { c.UntilIdle = 0; c.Roll.MaxRecords = 1000 })
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()

	waitFor(t, "a to read s1's records and start taking b's expired lease", func() bool {
		select {
		case <-taking:
			return c.Stats().Records == int64(len(want))
		default:
			return false
		}
	})
	cancel() // SIGTERM
	if err := within(t, done, "the capture to stop"); err != nil {
		t.Fatalf("a stop is a normal exit, got %v", err)
	}

	for id, owner := range leaseOwners(t, store, f.table) {
		if owner != "" {
			t.Errorf("after a graceful stop shard %s is still owned by %s", id, owner)
		}
	}
	if got := seqs(f.stored(t)[s1]); !equalStrings(got, want) {
		t.Errorf("stored %v of s1, want %v", got, want)
	}
	// Stop taking, then flush (segment, then its checkpoint), then release.
	stop, seg, ckpt, rel := ev.first("stop taking"), ev.last("segment "+s1), ev.last("checkpoint "+s1), ev.first("release")
	if stop < 0 || seg < 0 || ckpt < 0 || rel < 0 || stop >= seg || seg >= ckpt || ckpt >= rel {
		t.Errorf("events out of order (want stop taking < segment < checkpoint < release): %q", ev.all())
	}
}

// within fails the test unless ch receives within a generous deadline.
func within[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(2 * time.Minute):
		t.Fatalf("gave up after 2 minutes waiting for %s", what)
	}
	var zero T
	return zero
}

// clock is a test clock for a lease manager.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// A worker that loses its lease after storing a segment and before saving the segment's
// checkpoint saves nothing more and stops reading the shard; the new holder reads again
// from the last checkpoint, so the records of that segment are stored twice (readers
// dedupe them) and none is lost.
func TestCapture_ALeaseLostBetweenASegmentAndItsCheckpointSavesNothing(t *testing.T) {
	s1 := fakestreams.ShardID(1)
	f := newFixture(t, s1)
	var all []string
	for i := range 20 {
		s, err := f.fake.AppendRecords(s1, item(fmt.Sprintf("k%d", i), i))
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, s...)
	}
	ev := &events{}
	db := ddblocal.Shared(t).DynamoDB()
	store := newLeaseStore(t, recordingStoreAPI{API: db, ev: ev})
	a, err := ckdynamo.NewLeases(db, store, ckdynamo.LeaseConfig{Table: f.table, WorkerID: "a", Duration: time.Hour, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	// b judges a's lease by its own clock, which the test moves.
	bClock := &clock{now: time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)}
	b, err := ckdynamo.NewLeases(db, store, ckdynamo.LeaseConfig{Table: f.table, WorkerID: "b", Duration: time.Hour, Now: bClock.Now, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Track(t.Context(), f.streamARN, []shards.Shard{{ID: s1}}); err != nil {
		t.Fatal(err)
	}

	var segments atomic.Int32
	bucket := &recordingBucket{Bucket: f.bucket, ev: ev, after: func(writer.SegmentName) {
		if segments.Add(1) != 2 {
			return
		}
		// The second segment is durable; before its checkpoint is saved, a stalls and b
		// finds a's lease expired and takes it over.
		for range 10 {
			if err := b.Heartbeat(t.Context()); err != nil {
				t.Error(err)
			}
			if len(b.Held()) == 1 {
				break
			}
			bClock.Advance(time.Hour)
		}
		ev.add("lease taken by b")
	}}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- f.captureWith(t, bucket, store, a, func(c *Config) { c.UntilIdle = 0 }).Run(ctx) }()
	waitFor(t, "b to take the lease over and a to notice", func() bool {
		select {
		case err := <-done:
			t.Fatalf("a ended (%v) before b took its lease over; events %q", err, ev.all())
		default:
		}
		return ev.first("lease taken by b") >= 0 && len(a.Held()) == 0
	})
	cancel() // a's reader of the lost shard has stopped by itself; Run waits for it
	if err := within(t, done, "a to stop"); err != nil {
		t.Fatalf("a capture whose lease was lost stops normally, got %v", err)
	}
	if len(b.Held()) != 1 {
		t.Fatal("b never took the lease over")
	}
	state, err := store.Load(t.Context(), f.table)
	if err != nil {
		t.Fatal(err)
	}
	if got := state.Shards[s1].SequenceNumber; got != all[6] {
		t.Fatalf("checkpoint at %s after the lease was lost, want %s (the first segment's end): the second segment's checkpoint must not be saved", got, all[6])
	}
	stole := ev.first("lease taken by b")
	if after := ev.all()[stole+1:]; len(after) != 0 {
		t.Errorf("a stored or saved %q after losing its lease, want nothing", after)
	}
	if got := ev.all()[:stole]; !slices.Equal(got, []string{
		"segment " + s1 + " " + all[0] + "-" + all[6], "checkpoint " + s1, "segment " + s1 + " " + all[7] + "-" + all[13],
	}) {
		t.Errorf("a's writes: %q, want the first segment and its checkpoint, then the second segment alone", got)
	}

	// b continues from the last checkpoint: it stores the second segment's records again,
	// then the rest.
	evB := &events{}
	if err := f.captureWith(t, &recordingBucket{Bucket: f.bucket, ev: evB}, store, b, nil).Run(t.Context()); err != nil {
		t.Fatal(err)
	}
	if first := evB.all()[0]; first != "segment "+s1+" "+all[7]+"-"+all[13] {
		t.Errorf("b's first segment is %q, want it to start right after the checkpoint, at %s", first, all[7])
	}
	if got := seqs(f.stored(t)[s1]); !equalStrings(got, all) {
		t.Errorf("stored %v, want every record %v", got, all)
	}
	state, err = store.Load(t.Context(), f.table)
	if err != nil {
		t.Fatal(err)
	}
	if got := state.Shards[s1].SequenceNumber; got != all[19] {
		t.Errorf("final checkpoint at %s, want %s", got, all[19])
	}
}

// signalLeases closes stopTaking when StopTaking is first called.
type signalLeases struct {
	*ckdynamo.Leases
	stopTaking chan struct{}
	once       sync.Once
}

func (s *signalLeases) StopTaking() {
	s.once.Do(func() { close(s.stopTaking) })
	s.Leases.StopTaking()
}

// With --until-idle, a leased capture that holds no shard yet is not idle: on a busy
// machine the heartbeat's first take can come after the coordinator's first idle check,
// and the capture ended having read nothing.
func TestCapture_ALeasedCaptureUntilIdleWaitsForItsFirstLease(t *testing.T) {
	s1 := fakestreams.ShardID(1)
	f := newFixture(t, s1)
	var all []string
	for i := range 10 {
		s, err := f.fake.AppendRecords(s1, item(fmt.Sprintf("k%d", i), i))
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, s...)
	}
	store := newLeaseStore(t, nil)
	// The capture's clock stands still, so by it nothing ever lasts UntilIdle; each idle
	// check reads it once.
	frozen := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	clockRead := make(chan struct{}, 1000)
	leases := &signalLeases{stopTaking: make(chan struct{})}
	api := leaseAPI{LeaseAPI: ddblocal.Shared(t).DynamoDB(), update: func(ctx context.Context, in *ddb.UpdateItemInput, call func(context.Context) (*ddb.UpdateItemOutput, error)) (*ddb.UpdateItemOutput, error) {
		if in.ReturnValues != types.ReturnValueAllNew {
			return call(ctx)
		}
		// The take is slow: it completes after three idle checks, or once the capture
		// stopped taking (it called itself idle).
		for checks := 0; checks < 3; {
			select {
			case <-clockRead:
				checks++
			case <-leases.stopTaking:
				return call(ctx)
			}
		}
		return call(ctx)
	}}
	m, err := ckdynamo.NewLeases(api, store, ckdynamo.LeaseConfig{Table: f.table, WorkerID: "a", Duration: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	leases.Leases = m
	c := f.captureWith(t, f.bucket, store, leases, nil)
	ready := make(chan struct{})
	c.now = func() time.Time {
		select {
		case <-ready:
			select {
			case clockRead <- struct{}{}:
			default:
			}
		default:
		}
		return frozen
	}
	close(ready)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	waitFor(t, "every record read", func() bool {
		select {
		case err := <-done:
			t.Fatalf("the capture ended (%v) having read %d of %d records: it called itself idle before it took its lease", err, c.Stats().Records, len(all))
		default:
		}
		return c.Stats().Records == int64(len(all))
	})
	cancel()
	if err := within(t, done, "the capture to stop"); err != nil {
		t.Fatal(err)
	}
	if got := seqs(f.stored(t)[s1]); !equalStrings(got, all) {
		t.Fatalf("stored %v, want %v", got, all)
	}
}
