package catalog_test

import (
	"context"
	"testing"
	"time"

	ckdynamo "github.com/ddbtape/ddbtape/checkpoint/dynamodb"
	"github.com/ddbtape/ddbtape/internal/ddblocal"
	"github.com/ddbtape/ddbtape/replicator"
)

// Several workers share the shards through leases in DynamoDB Local: a split's children
// are listed (and recorded) by every worker but read only once somebody takes their
// lease, and a worker that stops leaves its shards unread until another takes them. A
// shard listed and not yet leased holds the window back like any unread shard.
func TestWindow_SeveralWorkersWithAShardNotYetLeased(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	inst, err := ddblocal.Start(ctx)
	cancel()
	if err != nil {
		t.Fatalf("DynamoDB Local for the lease table: %v", err)
	}
	t.Cleanup(inst.Stop)
	db := inst.DynamoDB()
	store, err := ckdynamo.New(db, "scenario-leases", "test")
	if err != nil {
		t.Fatal(err)
	}
	if err := store.EnsureTable(t.Context(), true, time.Minute); err != nil {
		t.Fatal(err)
	}

	w := newWorld(t, true)
	w.store = store
	worker := func(id string) *capture {
		m, err := ckdynamo.NewLeases(db, store, ckdynamo.LeaseConfig{Table: w.table, WorkerID: id, Duration: 2 * time.Second, Interval: 500 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		return w.startCapture(func(c *replicator.Config) { c.Leases, c.WriterID = m, id })
	}
	for i := range 4 {
		w.put("root", key(i), i)
		w.tick(1)
	}
	a, b := worker("a"), worker("b")
	w.tick(2)
	w.snapshot(2 * time.Second)
	w.put("root", key(0), 10)
	w.tick(70)
	w.waitCovered(w.clock.Now().Add(-65 * time.Second))

	w.split("root", "left", "right")
	for i := range 6 {
		w.put("right", key(i%4), 20+i)
		w.put("left", key(4+i%2), 30+i)
		w.tick(1)
		w.check()
	}
	w.tick(70)
	w.waitCovered(w.clock.Now().Add(-65 * time.Second))

	// One worker goes: its shards wait, unleased, until the other takes them.
	b.stop(t)
	w.split("right", "right-1", "right-2")
	for i := range 6 {
		w.put("right-2", key(i%4), 40+i)
		w.tick(1)
		w.check()
	}
	w.tick(70)
	w.waitCovered(w.clock.Now().Add(-65 * time.Second))
	w.compactAtEnd()
	a.stop(t)
	w.check()
	t.Logf("%d seconds restored equal to the model, %d refused", w.checked, w.refused)
}
