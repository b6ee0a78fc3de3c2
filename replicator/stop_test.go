package replicator

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/ddbtape/ddbtape/checkpoint"
	"github.com/ddbtape/ddbtape/internal/fakestreams"
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
