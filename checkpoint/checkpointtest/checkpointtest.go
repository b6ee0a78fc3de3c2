// Package checkpointtest is the shared behaviour suite of checkpoint.Store, run against
// every backend (checkpoint/file over a directory and over S3, checkpoint/dynamodb).
package checkpointtest

import (
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/ddbtape/ddbtape/checkpoint"
)

// Run runs the suite. newStore must return a store with nothing recorded, a new one per
// call.
func Run(t *testing.T, newStore func(t *testing.T) checkpoint.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s checkpoint.Store)
	}{
		{"LoadOfANewTableIsEmptyWithAShardsMap", testLoadEmpty},
		{"SaveThenLoadKeepsEveryField", testRoundTrip},
		{"SaveReplacesOnlyItsOwnShard", testSeveralShards},
		{"TablesAreIndependent", testTablesIndependent},
		{"GapsAreKeptInOrderBesideShards", testGaps},
		{"SaveNeverMovesAShardBackwards", testNoBackwards},
		{"ConcurrentSavesOfDifferentShardsAllLand", testConcurrentSaves},
		{"LoadReturnsACopy", testLoadCopy},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, newStore(t)) })
	}
}

const streamARN = "arn:aws:dynamodb:eu-west-1:123456789012:table/orders/stream/2026-11-21T00:00:00.000"

// at is a time in a non-UTC zone with millisecond precision: backends may normalise the
// zone and need not keep more than milliseconds (DynamoDB's own stamps have less).
func at(sec, ms int) time.Time {
	return time.Date(2026, 11, 21, 10, 42, sec, ms*1e6, time.FixedZone("CET", 3600))
}

func load(t *testing.T, s checkpoint.Store, table string) checkpoint.Table {
	t.Helper()
	got, err := s.Load(t.Context(), table)
	if err != nil {
		t.Fatalf("Load(%q): %v", table, err)
	}
	return got
}

func save(t *testing.T, s checkpoint.Store, table string, pos checkpoint.Position) {
	t.Helper()
	if err := s.Save(t.Context(), table, pos); err != nil {
		t.Fatalf("Save(%q, %s at %q): %v", table, pos.ShardID, pos.SequenceNumber, err)
	}
}

// samePosition compares field by field, times with Equal.
func samePosition(a, b checkpoint.Position) bool {
	return a.StreamARN == b.StreamARN && a.ShardID == b.ShardID && a.ParentShardID == b.ParentShardID &&
		a.CoveredFrom.Equal(b.CoveredFrom) && a.SequenceNumber == b.SequenceNumber &&
		a.LastRecordTime.Equal(b.LastRecordTime) && a.CoveredUntil.Equal(b.CoveredUntil) &&
		a.Finished == b.Finished && a.UpdatedAt.Equal(b.UpdatedAt)
}

func sameGap(a, b checkpoint.Gap) bool {
	return a.StreamARN == b.StreamARN && a.ShardID == b.ShardID && a.AfterSequence == b.AfterSequence &&
		a.From.Equal(b.From) && a.DetectedAt.Equal(b.DetectedAt) && a.Reason == b.Reason
}

func pos(shard, seq string) checkpoint.Position {
	return checkpoint.Position{StreamARN: streamARN, ShardID: shard, SequenceNumber: seq, UpdatedAt: at(0, 0)}
}

func testLoadEmpty(t *testing.T, s checkpoint.Store) {
	got := load(t, s, "orders")
	if got.Shards == nil {
		t.Fatal("Load of a new table returned a nil Shards map")
	}
	if len(got.Shards) != 0 || len(got.Gaps) != 0 {
		t.Fatalf("Load of a new table = %+v, want nothing recorded", got)
	}
}

func testRoundTrip(t *testing.T, s checkpoint.Store) {
	want := checkpoint.Position{
		StreamARN:      streamARN,
		ShardID:        "shardId-00000001700000000000-0a1b2c3d",
		ParentShardID:  "shardId-00000001690000000000-99887766",
		CoveredFrom:    at(1, 0),
		SequenceNumber: "49668042188516443710245236567389291537025155113154003970",
		LastRecordTime: at(17, 0),
		CoveredUntil:   at(18, 250),
		Finished:       true,
		UpdatedAt:      at(19, 999),
	}
	save(t, s, "orders", want)
	got := load(t, s, "orders")
	if len(got.Shards) != 1 {
		t.Fatalf("Load = %+v, want one shard", got.Shards)
	}
	if p := got.Shards[want.ShardID]; !samePosition(p, want) {
		t.Fatalf("Load returned\n  %+v\nwant\n  %+v", p, want)
	}
	// An unfinished shard with zero times round-trips too.
	bare := checkpoint.Position{StreamARN: streamARN, ShardID: "shardId-2", UpdatedAt: at(2, 0)}
	save(t, s, "orders", bare)
	if p := load(t, s, "orders").Shards[bare.ShardID]; !samePosition(p, bare) {
		t.Fatalf("Load returned\n  %+v\nwant\n  %+v", p, bare)
	}
}

func testSeveralShards(t *testing.T, s checkpoint.Store) {
	save(t, s, "orders", pos("shard-a", "100"))
	save(t, s, "orders", pos("shard-b", "200"))
	save(t, s, "orders", pos("shard-c", "300"))
	save(t, s, "orders", pos("shard-b", "250"))
	got := load(t, s, "orders")
	want := map[string]string{"shard-a": "100", "shard-b": "250", "shard-c": "300"}
	seqs := map[string]string{}
	for id, p := range got.Shards {
		seqs[id] = p.SequenceNumber
	}
	if !reflect.DeepEqual(seqs, want) {
		t.Fatalf("recorded sequence numbers = %v, want %v", seqs, want)
	}
}

func testTablesIndependent(t *testing.T, s checkpoint.Store) {
	save(t, s, "orders", pos("shard-a", "1"))
	save(t, s, "orders-archive", pos("shard-b", "2"))
	if err := s.AddGap(t.Context(), "orders-archive", checkpoint.Gap{ShardID: "shard-b", DetectedAt: at(0, 0), Reason: "trimmed"}); err != nil {
		t.Fatalf("AddGap: %v", err)
	}
	a, b := load(t, s, "orders"), load(t, s, "orders-archive")
	if _, ok := a.Shards["shard-a"]; !ok || len(a.Shards) != 1 || len(a.Gaps) != 0 {
		t.Fatalf("orders = %+v, want only shard-a and no gaps", a)
	}
	if _, ok := b.Shards["shard-b"]; !ok || len(b.Shards) != 1 || len(b.Gaps) != 1 {
		t.Fatalf("orders-archive = %+v, want only shard-b and one gap", b)
	}
}

func testGaps(t *testing.T, s checkpoint.Store) {
	ctx := t.Context()
	save(t, s, "orders", pos("shard-a", "100"))
	gaps := []checkpoint.Gap{
		{StreamARN: streamARN, ShardID: "shard-a", AfterSequence: "100", From: at(5, 0), DetectedAt: at(30, 0), Reason: "TrimmedDataAccessException"},
		{StreamARN: streamARN, ShardID: "shard-b", DetectedAt: at(31, 500), Reason: "shard expired before it was read"},
	}
	for _, g := range gaps {
		if err := s.AddGap(ctx, "orders", g); err != nil {
			t.Fatalf("AddGap: %v", err)
		}
	}
	save(t, s, "orders", pos("shard-a", "500"))
	got := load(t, s, "orders")
	if len(got.Gaps) != len(gaps) {
		t.Fatalf("Load has %d gaps, want %d: %+v", len(got.Gaps), len(gaps), got.Gaps)
	}
	for i := range gaps {
		if !sameGap(got.Gaps[i], gaps[i]) {
			t.Errorf("gap %d = %+v, want %+v", i, got.Gaps[i], gaps[i])
		}
	}
	if got.Shards["shard-a"].SequenceNumber != "500" {
		t.Fatalf("a save after AddGap was lost: %+v", got.Shards["shard-a"])
	}
}

func testNoBackwards(t *testing.T, s checkpoint.Store) {
	ctx := t.Context()
	save(t, s, "orders", pos("shard-a", "100"))
	// Numeric, not textual: "99" sorts after "100" as text.
	for _, seq := range []string{"99", "0", ""} {
		if err := s.Save(ctx, "orders", pos("shard-a", seq)); err == nil {
			t.Errorf("Save moved shard-a from 100 back to %q", seq)
		}
	}
	// The same sequence number with a later coverage time is progress, not a move back.
	same := pos("shard-a", "100")
	same.CoveredUntil = at(50, 0)
	save(t, s, "orders", same)

	done := pos("shard-b", "700")
	done.Finished = true
	save(t, s, "orders", done)
	if err := s.Save(ctx, "orders", pos("shard-b", "700")); err == nil {
		t.Error("Save un-finished the finished shard-b")
	}
	got := load(t, s, "orders")
	if p := got.Shards["shard-a"]; p.SequenceNumber != "100" || !p.CoveredUntil.Equal(at(50, 0)) {
		t.Errorf("shard-a = %+v, want sequence 100 covered until %v", p, at(50, 0))
	}
	if p := got.Shards["shard-b"]; !p.Finished {
		t.Errorf("shard-b = %+v, want finished", p)
	}
}

func testConcurrentSaves(t *testing.T, s checkpoint.Store) {
	const shards, saves = 16, 5
	var wg sync.WaitGroup
	errs := make(chan error, shards*saves)
	for i := range shards {
		wg.Go(func() {
			for j := 1; j <= saves; j++ {
				if err := s.Save(t.Context(), "orders", pos(fmt.Sprintf("shard-%02d", i), fmt.Sprint(j*1000+i))); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("concurrent Save: %v", err)
	}
	got := load(t, s, "orders")
	if len(got.Shards) != shards {
		t.Fatalf("Load has %d shards, want %d", len(got.Shards), shards)
	}
	for i := range shards {
		id := fmt.Sprintf("shard-%02d", i)
		if p, want := got.Shards[id], fmt.Sprint(saves*1000+i); p.SequenceNumber != want {
			t.Errorf("%s at %q, want its last save %q", id, p.SequenceNumber, want)
		}
	}
}

func testLoadCopy(t *testing.T, s checkpoint.Store) {
	save(t, s, "orders", pos("shard-a", "100"))
	got := load(t, s, "orders")
	got.Shards["shard-x"] = pos("shard-x", "1")
	delete(got.Shards, "shard-a")
	again := load(t, s, "orders")
	if _, ok := again.Shards["shard-a"]; !ok || len(again.Shards) != 1 {
		t.Fatalf("changing a loaded Table changed the store: %+v", again.Shards)
	}
}
