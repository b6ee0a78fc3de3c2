package replicator

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"

	"github.com/ddbtape/ddbtape/checkpoint"
	"github.com/ddbtape/ddbtape/internal/fakestreams"
	"github.com/ddbtape/ddbtape/shards"
)

// hookedStore calls save instead of the store's Save.
type hookedStore struct {
	checkpoint.Store
	save func(ctx context.Context, table string, pos checkpoint.Position) error
}

func (s hookedStore) Save(ctx context.Context, table string, pos checkpoint.Position) error {
	return s.save(ctx, table, pos)
}

// A SIGTERM while a checkpoint save waits for its answer (a busy machine): the save runs
// to its end, so the capture knows where its checkpoint is. Cut off, the save could still
// take effect unknown to the capture, whose final flush then saved the older position and
// failed as moving backwards.
func TestCapture_AStopDuringACheckpointSaveLetsTheSaveFinish(t *testing.T) {
	id := fakestreams.ShardID(1)
	f := newFixture(t, id)
	var want []string
	for i := range 7 {
		s, err := f.fake.AppendRecords(id, item(fmt.Sprintf("k%d", i), i))
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, s...)
	}
	saving, stopped := make(chan struct{}), make(chan struct{})
	var once sync.Once
	store := hookedStore{Store: f.store, save: func(ctx context.Context, table string, pos checkpoint.Position) error {
		if pos.SequenceNumber != want[6] {
			return f.store.Save(ctx, table, pos)
		}
		first := false
		once.Do(func() { first = true })
		if !first {
			return f.store.Save(ctx, table, pos)
		}
		close(saving)
		<-stopped
		err := f.store.Save(context.WithoutCancel(ctx), table, pos) // the store applies it...
		if ctx.Err() != nil {
			return ctx.Err() // ...but a caller that stopped waiting never learns so
		}
		return err
	}}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	c := f.captureWith(t, f.bucket, store, nil, func(c *Config) { c.UntilIdle = 0 }) // segments of 7
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	within(t, saving, "the first segment's checkpoint save")
	cancel() // SIGTERM
	close(stopped)
	if err := within(t, done, "the capture to stop"); err != nil {
		t.Fatalf("a stop is a normal exit, got %v", err)
	}
	state, err := f.store.Load(t.Context(), f.table)
	if err != nil {
		t.Fatal(err)
	}
	if got := state.Shards[id].SequenceNumber; got != want[6] {
		t.Fatalf("checkpoint at %q, want %s", got, want[6])
	}
	if got := seqs(f.stored(t)[id]); !equalStrings(got, want) {
		t.Fatalf("stored %v, want %v", got, want)
	}
}

// stoppingStreams cancels the capture (a SIGTERM) on the n-th DescribeStream and fails
// that call as a stop does.
type stoppingStreams struct {
	shards.StreamsAPI
	n      int32
	calls  atomic.Int32
	cancel context.CancelFunc
}

func (s *stoppingStreams) DescribeStream(ctx context.Context, in *dynamodbstreams.DescribeStreamInput, optFns ...func(*dynamodbstreams.Options)) (*dynamodbstreams.DescribeStreamOutput, error) {
	if s.calls.Add(1) == s.n {
		s.cancel()
		return nil, context.Canceled
	}
	return s.StreamsAPI.DescribeStream(ctx, in, optFns...)
}

// A SIGTERM while the coordinator lists the shards again, after a shard was read to its
// end, is a normal stop: the listing it cut short is no failure.
func TestCapture_AStopDuringAListingIsANormalStop(t *testing.T) {
	id := fakestreams.ShardID(1)
	f := newFixture(t, id)
	want, err := f.fake.AppendRecords(id, item("a", 1), item("b", 2))
	if err != nil {
		t.Fatal(err)
	}
	f.fake.CloseShard(id)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	awsCfg := f.fake.Config()
	// Listings: the first schedule's, then the one after the closed shard ended.
	streams := &stoppingStreams{StreamsAPI: dynamodbstreams.NewFromConfig(awsCfg), n: 2, cancel: cancel}
	c, err := NewCapture(Config{Table: f.table, SpoolDir: t.TempDir(), Logger: testLogger(),
		Reader: shards.Reader{PollInterval: 5 * time.Millisecond, MaxIdleInterval: 20 * time.Millisecond}},
		dynamodb.NewFromConfig(awsCfg), streams, f.bucket, f.store)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Run(ctx); err != nil {
		t.Fatalf("a stop is a normal exit, got %v", err)
	}
	if streams.calls.Load() < 2 {
		t.Fatalf("%d listings, want the stop during the second", streams.calls.Load())
	}
	if got := seqs(f.stored(t)[id]); !equalStrings(got, want) {
		t.Fatalf("stored %v, want %v", got, want)
	}
}
