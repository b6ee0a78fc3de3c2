package dynamodb

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ddbtape/ddbtape/checkpoint"
	"github.com/ddbtape/ddbtape/internal/ddblocal"
	"github.com/ddbtape/ddbtape/shards"
)

func TestStore_WriteLeasesShowsOwnersAgesAndCheckpoints(t *testing.T) {
	t.Parallel()
	db := ddblocal.Shared(t).DynamoDB()
	store, err := New(db, fmt.Sprintf("status-ckpt-%d", time.Now().UnixNano()), "team-a")
	if err != nil {
		t.Fatal(err)
	}
	if err := store.EnsureTable(t.Context(), true, time.Minute); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	m, err := NewLeases(db, store, LeaseConfig{Table: "orders", WorkerID: "host-a-1", Duration: time.Minute, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	list := []shards.Shard{{ID: "shard-1", StartingSequence: "1"}, {ID: "shard-2", StartingSequence: "2"}, {ID: "shard-3", ParentID: "shard-1", StartingSequence: "3"}}
	if err := m.Track(t.Context(), "arn:stream", list); err != nil {
		t.Fatal(err)
	}
	if err := m.Heartbeat(t.Context()); err != nil {
		t.Fatal(err)
	}
	for _, l := range m.Held() {
		if l.ShardID() == "shard-2" {
			if err := l.Store().Save(t.Context(), "orders", checkpoint.Position{StreamARN: "arn:stream", ShardID: "shard-2", SequenceNumber: "4200"}); err != nil {
				t.Fatal(err)
			}
		}
	}
	var out strings.Builder
	if err := store.WriteLeases(t.Context(), &out, "orders", now.Add(1500*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	for _, want := range []string{"app team-a", "shard-1  host-a-1  1.5s", "4200", "shard-3  -", "unowned", "worker host-a-1 holds 2"} {
		if !strings.Contains(got, want) {
			t.Errorf("WriteLeases output lacks %q:\n%s", want, got)
		}
	}
}
