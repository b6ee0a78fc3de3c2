package replicator

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	"github.com/ddbtape/ddbtape/checkpoint"
	"github.com/ddbtape/ddbtape/internal/fakestreams"
	"github.com/ddbtape/ddbtape/shards"
	"github.com/ddbtape/ddbtape/storage"
	"github.com/ddbtape/ddbtape/writer"
)

// holdingBucket holds the first segment's upload until release is closed.
type holdingBucket struct {
	storage.Bucket
	entered atomic.Int32  // segment uploads begun
	held    chan struct{} // closed when the first one is held
	release chan struct{}
}

func (b *holdingBucket) Create(ctx context.Context, key string, r io.Reader) error {
	if strings.Contains(key, "/changes/") && b.entered.Add(1) == 1 {
		close(b.held)
		<-b.release
	}
	return b.Bucket.Create(ctx, key, r)
}

// TestCapture_StoringASegmentDoesNotStallReading holds the first segment's upload and
// checks that the shard is read on meanwhile (the next batch handled into the next
// segment, the one after fetched), no further than one segment and one batch ahead,
// with the checkpoint not moved; released, everything is stored in order.
func TestCapture_StoringASegmentDoesNotStallReading(t *testing.T) {
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
	hb := &holdingBucket{Bucket: f.bucket, held: make(chan struct{}), release: make(chan struct{})}
	c := f.capture(t, hb, func(c *Config) {
		c.Roll.MaxRecords = 10
		c.Reader.Limit = 10 // a batch fills a segment
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- c.Run(ctx) }()

	<-hb.held
	calls := func() int64 { return f.fake.Calls(fakestreams.OpGetRecords) }
	// Segment 1 is being stored; batch 2 is handled into segment 2, and batch 3 fetched.
	waitFor(t, "the reads after the held segment", func() bool { return calls() >= 3 })
	time.Sleep(200 * time.Millisecond)
	if n := calls(); n != 3 {
		t.Errorf("%d GetRecords while the first segment is held, want 3: one segment being stored, one filled, one batch ahead", n)
	}
	if n := hb.entered.Load(); n != 1 {
		t.Errorf("%d segment uploads begun while the first is held, want 1 (one at a time, in order)", n)
	}
	state, err := f.store.Load(ctx, f.table)
	if err != nil {
		t.Fatal(err)
	}
	if p, ok := state.Shards[id]; ok && p.SequenceNumber != "" {
		t.Errorf("checkpoint at %s while no segment is stored", p.SequenceNumber)
	}

	close(hb.release)
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if got := seqs(f.stored(t)[id]); !equalStrings(got, all) {
		t.Fatalf("stored %d records, want %d in order", len(got), len(all))
	}
	state, err = f.store.Load(ctx, f.table)
	if err != nil {
		t.Fatal(err)
	}
	if got := state.Shards[id].SequenceNumber; got != all[len(all)-1] {
		t.Fatalf("checkpoint at %s, want the last record %s", got, all[len(all)-1])
	}
}

// failingSaves fails every checkpoint save while failing is set.
type failingSaves struct {
	checkpoint.Store
	failing atomic.Bool
	failed  atomic.Int32
}

func (s *failingSaves) Save(ctx context.Context, table string, pos checkpoint.Position) error {
	if s.failing.Load() {
		s.failed.Add(1)
		return errInjected
	}
	return s.Store.Save(ctx, table, pos)
}

// TestCapture_AStopDuringACheckpointRetrySavesItInTheFinalFlush stops the capture while
// the storer waits to retry a checkpoint whose segment is stored: the final flush saves
// that checkpoint (without storing the segment again, which would fail as closed) and
// then what was read after it; the next run resumes from there.
func TestCapture_AStopDuringACheckpointRetrySavesItInTheFinalFlush(t *testing.T) {
	id := fakestreams.ShardID(1)
	f := newFixture(t, id)
	var all []string
	for i := 0; i < 25; i++ {
		s, err := f.fake.AppendRecords(id, item(fmt.Sprintf("k%d", i), i))
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, s...)
	}
	saves := &failingSaves{Store: f.store}
	saves.failing.Store(true)
	cfg := Config{
		Table: f.table,
		Roll:  writer.RollPolicy{MaxRecords: 10, MaxBytes: 1 << 20, MaxAge: time.Minute},
		// The retry's wait lasts until the stop.
		Sleep:    func(ctx context.Context, _ time.Duration) error { <-ctx.Done(); return ctx.Err() },
		SpoolDir: t.TempDir(),
		Reader:   shards.Reader{PollInterval: 5 * time.Millisecond, MaxIdleInterval: 20 * time.Millisecond, RetryBound: 10 * time.Second},
		Logger:   slog.New(slog.DiscardHandler),
	}
	awsCfg := f.fake.Config()
	c, err := NewCapture(cfg, dynamodb.NewFromConfig(awsCfg), dynamodbstreams.NewFromConfig(awsCfg), f.bucket, saves)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- c.Run(ctx) }()
	waitFor(t, "a failed checkpoint save", func() bool { return saves.failed.Load() > 0 })
	saves.failing.Store(false)
	cancel()
	if err := <-errc; err != nil {
		t.Fatalf("a stop is a normal exit, got %v", err)
	}
	// What was read before the stop is stored, in order, from the first segment (whose
	// checkpoint failed) on, and the checkpoint is at its last record.
	stored := seqs(f.stored(t)[id])
	if len(stored) < 10 || !equalStrings(stored, all[:len(stored)]) {
		t.Fatalf("stored %d records, want the first %d or more in order", len(stored), 10)
	}
	state, err := f.store.Load(context.Background(), f.table)
	if err != nil {
		t.Fatal(err)
	}
	if got := state.Shards[id].SequenceNumber; got != stored[len(stored)-1] {
		t.Fatalf("checkpoint at %s, want the last stored record %s", got, stored[len(stored)-1])
	}
	// The next run resumes there and loses nothing.
	if err := f.run(t, nil); err != nil {
		t.Fatal(err)
	}
	if got := seqs(f.stored(t)[id]); !equalStrings(got, all) {
		t.Fatalf("after resume stored %d records, want %d", len(got), len(all))
	}
}
