package catalog

import (
	"context"
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ddbtape/ddbtape/storage"
	"github.com/ddbtape/ddbtape/storage/dir"
	"github.com/ddbtape/ddbtape/writer"
)

var listT0 = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)

// countingOpens counts object reads.
type countingOpens struct {
	storage.Bucket
	opens atomic.Int32
}

func (b *countingOpens) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	b.opens.Add(1)
	return b.Bucket.Open(ctx, key)
}

func TestCatalog_ReadsEachManifestOnceAndSkipsDeletedOnes(t *testing.T) {
	ctx := context.Background()
	d, err := dir.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	b := &countingOpens{Bucket: d}
	for _, id := range []string{"a", "b"} {
		m := writer.Manifest{FormatVersion: writer.ManifestFormatVersion, SnapshotID: id, TableName: "orders", Method: "scan",
			StartedAt: listT0, FinishedAt: listT0, KeySchema: []writer.KeyElement{{AttributeName: "pk", KeyType: "HASH"}},
			AttributeDefinitions: []writer.AttributeDefinition{{AttributeName: "pk", AttributeType: "S"}}, Parts: []writer.ManifestPart{}}
		data, err := writer.EncodeManifest(m)
		if err != nil {
			t.Fatal(err)
		}
		if err := d.Put(ctx, writer.ManifestKey("orders", id), strings.NewReader(string(data))); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.Put(ctx, writer.SnapshotDir("orders", "c")+"part-00000.parquet", strings.NewReader("x")); err != nil {
		t.Fatal(err)
	}
	c := New(b, "orders", nil)
	for range 3 {
		snaps, err := c.Snapshots(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(snaps) != 3 || snaps[0].Manifest == nil || snaps[1].Manifest == nil || snaps[2].Manifest != nil {
			t.Fatalf("snapshots = %+v, want a and b complete, c incomplete", snaps)
		}
	}
	if n := b.opens.Load(); n != 2 {
		t.Errorf("%d manifest reads for three listings, want 2", n)
	}
	if err := d.Delete(ctx, writer.ManifestKey("orders", "a")); err != nil {
		t.Fatal(err)
	}
	snaps, err := c.Snapshots(ctx)
	if err != nil || len(snaps) != 2 || snaps[0].ID != "b" {
		t.Errorf("after deleting a: %+v, %v", snaps, err)
	}
}
