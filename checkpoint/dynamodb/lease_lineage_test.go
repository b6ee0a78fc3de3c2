package dynamodb

import (
	"context"
	"slices"
	"sync"
	"testing"

	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/ddbtape/ddbtape/checkpoint"
	"github.com/ddbtape/ddbtape/shards"
)

// A worker killed while tracking (or a listing that pages children before their parent)
// can leave a child's row in the table before its parent's. The child must still wait for
// its parent: reading it first would store a key's later changes before its earlier ones.
func TestLeases_AChildWhoseRowCameFirstWaitsForItsParent(t *testing.T) {
	f := newFleet(t)
	parent := shards.Shard{ID: "parent", StartingSequence: "100"}
	kids := []shards.Shard{
		{ID: "child-1", ParentID: "parent", StartingSequence: "200"},
		{ID: "child-2", ParentID: "parent", StartingSequence: "201"},
	}
	// A worker that was killed after writing the children's rows, before the parent's.
	dead := f.worker("dead", newClock(), 1)
	for _, k := range kids {
		if err := dead.track(t.Context(), streamARN, k); err != nil {
			t.Fatal(err)
		}
	}

	// b lists all three, children first; its write of the parent's row is slow.
	var mu sync.Mutex
	var order []string
	gate, parentWrite := make(chan struct{}), make(chan struct{}, 1)
	api := hookedAPI{LeaseAPI: f.db, update: func(ctx context.Context, in *ddb.UpdateItemInput, call func(context.Context) (*ddb.UpdateItemOutput, error)) (*ddb.UpdateItemOutput, error) {
		if writeOf(in) == writeTrack {
			mu.Lock()
			order = append(order, shardOf(in))
			mu.Unlock()
			if shardOf(in) == parent.ID {
				parentWrite <- struct{}{}
				<-gate
			}
		}
		return call(ctx)
	}}
	c := newClock()
	b, err := NewLeases(api, f.store, LeaseConfig{Table: source, WorkerID: "b", Duration: duration, Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	tracked := make(chan error, 1)
	go func() { tracked <- b.Track(t.Context(), streamARN, append(slices.Clone(kids), parent)) }()
	within(t, parentWrite, "b's write of the parent's row")
	beat(t, b)
	if got := heldIDs(b); len(got) != 0 {
		t.Fatalf("b took %v while its listing's parent had no row yet", got)
	}
	close(gate)
	if err := within(t, tracked, "b's Track"); err != nil {
		t.Fatal(err)
	}
	if order[0] != parent.ID {
		t.Errorf("Track wrote rows in the order %v, want the parent's first", order)
	}

	beat(t, b)
	if got := heldIDs(b); !slices.Equal(got, []string{"parent"}) {
		t.Fatalf("b holds %v, want only the parent while it is unfinished", got)
	}
	lp := b.Held()[0]
	if err := lp.Store().Save(t.Context(), source, checkpoint.Position{StreamARN: streamARN, ShardID: parent.ID, SequenceNumber: "150", Finished: true}); err != nil {
		t.Fatal(err)
	}
	beat(t, b)
	if got := heldIDs(b); !slices.Equal(got, []string{"child-1", "child-2"}) {
		t.Fatalf("b holds %v after the parent finished, want both children", got)
	}
}

// A child whose parent was trimmed from the stream before anyone tracked it (a first
// capture of an old stream) has nothing to wait for.
func TestLeases_AChildOfATrimmedParentIsTaken(t *testing.T) {
	f := newFleet(t)
	a := f.worker("a", newClock(), 1)
	track(t, a, []shards.Shard{{ID: "child-1", ParentID: "trimmed", StartingSequence: "200"}})
	beat(t, a)
	if got := heldIDs(a); !slices.Equal(got, []string{"child-1"}) {
		t.Fatalf("a holds %v, want the child of a parent no listing has", got)
	}
}
