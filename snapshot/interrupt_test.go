package snapshot

import (
	"context"
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
)

// An interrupted snapshot (SIGINT: its context cancelled) stores the pages it read and
// where each segment stopped, so --resume continues from there: it reads only what was
// not stored, and the finished snapshot holds every item once.
func TestRun_InterruptedSnapshotSavesItsPositionsAndResumeReadsOnlyTheRest(t *testing.T) {
	tbl := newMemTable(400)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// Interrupted after 20 pages, in the middle of parts that are not due yet (a part
	// holds 20 rows, a page 7).
	tbl.failCalls = func(call int, _ *dynamodb.ScanInput) error {
		if call == 20 {
			cancel()
		}
		return nil
	}
	b := newDirBucket(t)
	cfg := testConfig(tbl.name)
	j, err := Prepare(context.Background(), tbl.db(), b, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := j.Run(ctx, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted Run: %v, want context.Canceled", err)
	}
	read := j.Stats().Items
	if read == 0 {
		t.Fatal("the interrupted run read nothing: the interruption tested nothing")
	}
	tbl.failCalls = nil
	cfg.SnapshotID, cfg.Segments = j.ID(), 0
	j2, err := Prepare(context.Background(), tbl.db(), b, cfg)
	if err != nil {
		t.Fatal(err)
	}
	stored, _ := j2.Stored()
	if stored != read {
		t.Errorf("the interrupted run read %d items but stored positions for %d", read, stored)
	}
	if _, err := j2.Run(context.Background(), nil); err != nil {
		t.Fatalf("resumed Run: %v", err)
	}
	if again := j2.Stats().Items; again != 400-stored {
		t.Errorf("the resumed run read %d items, want only the %d not stored", again, 400-stored)
	}
	_, rows := readSnapshot(t, b, tbl.name, j.ID())
	sameRows(t, rows, tbl.expected(t))
}
