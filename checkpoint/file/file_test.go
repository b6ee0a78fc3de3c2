package file

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ddbtape/ddbtape/checkpoint"
	"github.com/ddbtape/ddbtape/checkpoint/checkpointtest"
	"github.com/ddbtape/ddbtape/storage/dir"
)

func newDir(t *testing.T) *dir.Bucket {
	t.Helper()
	b, err := dir.New(t.TempDir())
	if err != nil {
		t.Fatalf("dir.New: %v", err)
	}
	return b
}

func TestStore_SuiteOverDirBesideTheData(t *testing.T) {
	checkpointtest.Run(t, func(t *testing.T) checkpoint.Store { return New(newDir(t), "orders/checkpoints/") })
}

func TestStore_SuiteOverItsOwnDir(t *testing.T) {
	checkpointtest.Run(t, func(t *testing.T) checkpoint.Store { return New(newDir(t), "") })
}

func TestStore_ANewStoreLoadsWhatAnotherSaved(t *testing.T) {
	b := newDir(t)
	first := New(b, "orders/checkpoints/")
	want := checkpoint.Position{ShardID: "shardId-1", SequenceNumber: "123", Finished: true, UpdatedAt: time.Now()}
	if err := first.Save(t.Context(), "orders", want); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(b.Root(), "orders/checkpoints/orders.json"))
	if err != nil {
		t.Fatalf("document not at <prefix><table>.json: %v", err)
	}
	if !strings.Contains(string(data), `"format_version": 1`) {
		t.Fatalf("document has no format_version 1:\n%s", data)
	}
	got, err := New(b, "orders/checkpoints/").Load(t.Context(), "orders")
	if err != nil {
		t.Fatal(err)
	}
	if p := got.Shards["shardId-1"]; p.SequenceNumber != "123" || !p.Finished || got.Table != "orders" {
		t.Fatalf("second store loaded %+v", got)
	}
}

func TestStore_RefusesACorruptDocumentAndLeavesItUntouched(t *testing.T) {
	tests := []struct {
		name, doc, why string
	}{
		{"garbage", "not json at all", "not a JSON checkpoint document"},
		{"empty", "", "not a JSON checkpoint document"},
		{"truncated", `{"format_version":1,"table":"orders","shards":{`, "not a JSON checkpoint document"},
		{"trailing", `{"format_version":1,"table":"orders","shards":{}} {}`, "trailing data"},
		{"no version", `{"table":"orders","shards":{}}`, "format_version 0 is not one this ddbtape reads"},
		{"newer version", `{"format_version":2,"table":"orders","shards":{}}`, "format_version 2"},
		{"other table", `{"format_version":1,"table":"payments","shards":{}}`, `belongs to table "payments"`},
		{"misfiled shard", `{"format_version":1,"table":"orders","shards":{"a":{"shard_id":"b","updated_at":"2026-11-21T00:00:00Z"}}}`, `shard entry "a"`},
		{"bad sequence", `{"format_version":1,"table":"orders","shards":{"a":{"shard_id":"a","sequence_number":"12x","updated_at":"2026-11-21T00:00:00Z"}}}`, "not a decimal number"},
		{"bad time", `{"format_version":1,"table":"orders","shards":{"a":{"shard_id":"a","updated_at":"yesterday"}}}`, "not a JSON checkpoint document"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newDir(t)
			path := filepath.Join(b.Root(), "ck", "orders.json")
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, []byte(tt.doc), 0o644); err != nil {
				t.Fatal(err)
			}
			s := New(b, "ck/")
			_, err := s.Load(t.Context(), "orders")
			if !errors.Is(err, checkpoint.ErrCorrupt) {
				t.Fatalf("Load = %v, want ErrCorrupt", err)
			}
			msg := err.Error()
			for _, want := range []string{"checkpoint file " + path + " is corrupt: ", tt.why, "move it aside to start over from the stream's trim horizon, or restore it from backup"} {
				if !strings.Contains(msg, want) {
					t.Errorf("error %q does not contain %q", msg, want)
				}
			}
			if strings.Contains(msg, "\n") {
				t.Errorf("error spans several lines: %q", msg)
			}
			if err := s.Save(t.Context(), "orders", checkpoint.Position{ShardID: "a", SequenceNumber: "1"}); !errors.Is(err, checkpoint.ErrCorrupt) {
				t.Errorf("Save over a corrupt document = %v, want ErrCorrupt", err)
			}
			if err := s.AddGap(t.Context(), "orders", checkpoint.Gap{ShardID: "a"}); !errors.Is(err, checkpoint.ErrCorrupt) {
				t.Errorf("AddGap over a corrupt document = %v, want ErrCorrupt", err)
			}
			if data, err := os.ReadFile(path); err != nil || string(data) != tt.doc {
				t.Fatalf("corrupt document changed to %q (%v)", data, err)
			}
		})
	}
}

func TestStore_SaveRefusesMovesBackwardsWithErrBackwards(t *testing.T) {
	s := New(newDir(t), "")
	ctx := t.Context()
	if err := s.Save(ctx, "orders", checkpoint.Position{ShardID: "a", SequenceNumber: "100", Finished: true}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []checkpoint.Position{
		{ShardID: "a", SequenceNumber: "99", Finished: true},
		{ShardID: "a", SequenceNumber: "100"},
	} {
		if err := s.Save(ctx, "orders", p); !errors.Is(err, ErrBackwards) {
			t.Errorf("Save(%+v) = %v, want ErrBackwards", p, err)
		}
	}
}

func TestStore_RejectsPositionsItCouldNotOrder(t *testing.T) {
	s := New(newDir(t), "")
	for _, p := range []checkpoint.Position{{ShardID: ""}, {ShardID: "a", SequenceNumber: "1e9"}, {ShardID: "a", SequenceNumber: "-1"}} {
		if err := s.Save(t.Context(), "orders", p); err == nil {
			t.Errorf("Save(%+v) succeeded", p)
		}
	}
	if err := s.AddGap(t.Context(), "orders", checkpoint.Gap{Reason: "no shard"}); err == nil {
		t.Error("AddGap without a shard succeeded")
	}
}

func TestStore_AddGapTwiceRecordsItOnce(t *testing.T) {
	s := New(newDir(t), "")
	g := checkpoint.Gap{ShardID: "a", AfterSequence: "5", DetectedAt: time.Now(), Reason: "trimmed"}
	for range 2 {
		if err := s.AddGap(t.Context(), "orders", g); err != nil {
			t.Fatal(err)
		}
	}
	got, err := New(s.b, "").Load(t.Context(), "orders")
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Gaps) != 1 {
		t.Fatalf("gaps = %+v, want one", got.Gaps)
	}
}

func TestStore_AFailedSaveChangesNothing(t *testing.T) {
	b := newDir(t)
	s := New(b, "")
	ctx := t.Context()
	if err := s.Save(ctx, "orders", checkpoint.Position{ShardID: "a", SequenceNumber: "100"}); err != nil {
		t.Fatal(err)
	}
	// Make the document's directory entry unwritable by replacing the file with a
	// directory of the same name: the atomic rename then fails.
	path := filepath.Join(b.Root(), "orders.json")
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(path, "blocker"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := s.Save(ctx, "orders", checkpoint.Position{ShardID: "a", SequenceNumber: "200"}); err == nil {
		t.Fatal("Save succeeded although the document could not be written")
	}
	if err := os.RemoveAll(path); err != nil {
		t.Fatal(err)
	}
	// The failed save must not have become the cached state: a position behind the one
	// that failed but ahead of the durable one is still accepted.
	if err := s.Save(ctx, "orders", checkpoint.Position{ShardID: "a", SequenceNumber: "150"}); err != nil {
		t.Fatalf("Save after a failed save: %v", err)
	}
	got, err := New(b, "").Load(ctx, "orders")
	if err != nil {
		t.Fatal(err)
	}
	if got.Shards["a"].SequenceNumber != "150" {
		t.Fatalf("after a failed save the document holds %+v", got.Shards)
	}
}
