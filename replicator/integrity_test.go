package replicator

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/ddbtape/ddbtape/internal/fakestreams"
	"github.com/ddbtape/ddbtape/ledger"
	"github.com/ddbtape/ddbtape/storage"
	"github.com/ddbtape/ddbtape/writer"
)

// Every segment capture stores has its size and SHA-256 in the ledger, matching the file,
// and capture deletes nothing (consolidating the ledger is a maintenance job's work).
func TestCapture_RecordsEverySegmentsSizeAndSHA256InTheLedger(t *testing.T) {
	id := fakestreams.ShardID(1)
	f := newFixture(t, id)
	for i := range 20 {
		if _, err := f.fake.AppendRecords(id, item(fmt.Sprintf("k%d", i), i)); err != nil {
			t.Fatal(err)
		}
	}
	deletes := &countingDeletes{Bucket: f.bucket}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for range 2 { // a second run starts over a ledger that the first one wrote
		if err := f.capture(t, deletes, nil).Run(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if deletes.n != 0 {
		t.Errorf("capture deleted %d objects", deletes.n)
	}
	st, err := ledger.Read(ctx, f.bucket, f.table)
	if err != nil {
		t.Fatal(err)
	}
	objs, err := f.bucket.List(ctx, writer.ChangesPrefix(f.table))
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) < 3 {
		t.Fatalf("%d segments stored, want 20 records in segments of 7", len(objs))
	}
	for _, o := range objs {
		fact, ok := st.Files[o.Key]
		if !ok {
			t.Errorf("segment %s has no fact in the ledger", o.Key)
			continue
		}
		rc, err := f.bucket.Open(ctx, o.Key)
		if err != nil {
			t.Fatal(err)
		}
		sum, size, err := storage.HashReader(rc)
		rc.Close()
		if err != nil || fact.SHA256 != sum || fact.Size != size || size != o.Size {
			t.Errorf("segment %s: ledger says %+v, the file is %d bytes with SHA-256 %s", o.Key, fact, size, sum)
		}
	}
	if len(st.ObjectConflicts) > 0 {
		t.Errorf("conflicting facts: %v", st.ObjectConflicts)
	}
}

type countingDeletes struct {
	storage.Bucket
	n int
}

func (c *countingDeletes) Delete(ctx context.Context, key string) error {
	c.n++
	return c.Bucket.Delete(ctx, key)
}

// A segment stored without its fact (a capture killed between the segment and its next
// ledger write) gets one from the next capture, read back from the stored file.
func TestCapture_RecordsTheChecksumOfASegmentStoredWithoutOne(t *testing.T) {
	id := fakestreams.ShardID(1)
	f := newFixture(t, id)
	if _, err := f.fake.AppendRecords(id, item("a", 1)); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := f.run(t, nil); err != nil {
		t.Fatal(err)
	}
	// The segment of a killed capture: stored, never recorded.
	seg := writer.NewSegment(t.TempDir())
	c := writer.Change{TableName: f.table, StreamARN: f.streamARN, ShardID: "shardId-killed", SequenceNumber: "5", EventID: "e5",
		EventName: "INSERT", ApproximateCreationTime: time.Now().UTC(), CapturedAt: time.Now().UTC(), Keys: `{"pk":{"S":"z"}}`, SizeBytes: 1}
	if err := seg.Append(c); err != nil {
		t.Fatal(err)
	}
	stored, err := writer.Flush(ctx, f.bucket, seg)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.run(t, nil); err != nil {
		t.Fatal(err)
	}
	st, err := ledger.Read(ctx, f.bucket, f.table)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := st.Files[stored.Name.Key()], (ledger.Object{Key: stored.Name.Key(), Size: stored.Size, SHA256: stored.SHA256}); got != want {
		t.Errorf("fact of the unrecorded segment = %+v, want %+v", got, want)
	}
}
