package replicator

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ddbtape/ddbtape/internal/fakestreams"
	"github.com/ddbtape/ddbtape/storage"
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
