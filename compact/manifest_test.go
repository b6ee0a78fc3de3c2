package compact

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/ddbtape/ddbtape/retention"
	"github.com/ddbtape/ddbtape/storage"
	"github.com/ddbtape/ddbtape/storage/faulty"
	"github.com/ddbtape/ddbtape/writer"
)

// The manifest write reports failure although the manifest was stored: on S3 a PUT whose
// response is lost is retried and refused with 412 ("already exists"), and a 500 can
// come after the commit. The compaction must then either succeed or fail leaving its
// complete snapshot whole; never a manifest whose parts it deleted, which restores would
// pick and fail on, and which retention would adopt as its base, deleting the snapshots
// and segments that could still restore the table.
func TestRun_AManifestStoredButReportedFailedLeavesTheSnapshotWhole(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
	}{
		{"AlreadyExistsAfterALostResponse", faulty.ErrLostExists},
		{"ServerErrorAfterTheCommit", faulty.ErrAfterCommit},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			h := newHistory(t, 4) // scans at 00:00 and 02:00
			cp := h.B.Checkpoints()
			fb := faulty.New(h.Bucket, faulty.Rule{Ops: faulty.Create, Key: faulty.Suffix("/" + writer.ManifestName), Stored: true, Err: tc.err, Times: 1})
			c := at("02:37").Add(20 * time.Second)
			res, err := Run(ctx, fb, cp, Config{Table: testTable, At: c, SpoolDir: t.TempDir(), Part: writer.PartPolicy{MaxRows: 4, MaxBytes: 1 << 20}})
			if len(fb.Fired()) != 1 {
				t.Fatalf("the manifest write was not faulted: %+v", fb.Fired())
			}
			if err == nil {
				stored := readManifest(ctx, t, h.Bucket, res.Manifest.SnapshotID)
				if stored == nil || stored.FinishedAt != c || len(stored.Parts) != len(res.Manifest.Parts) || len(stored.Parts) < 2 {
					t.Fatalf("compaction reported success, but its manifest reads %+v", stored)
				}
			} else {
				t.Logf("compaction failed: %v", err)
			}
			h.CheckSnapshotsWhole(t, h.Bucket)
			n := h.CheckRestores(t, h.Bucket)

			// Retention at 04:00 keeping an hour adopts the newest snapshot finished before
			// 03:00: the compaction, if it completed. Restores stay exact.
			rres, err := retention.Run(ctx, h.Bucket, cp, retention.Config{Table: testTable, Retention: time.Hour, Now: func() time.Time { return h.End }})
			if err != nil {
				t.Fatal(err)
			}
			h.CheckSnapshotsWhole(t, h.Bucket)
			m := h.CheckRestores(t, h.Bucket)
			t.Logf("restores equal the model at %d points before retention, %d after it adopted %s", n, m, rres.Base)
		})
	}
}

func readManifest(ctx context.Context, t *testing.T, b storage.Bucket, id string) *writer.Manifest {
	t.Helper()
	rc, err := b.Open(ctx, writer.ManifestKey(testTable, id))
	if errors.Is(err, storage.ErrNotFound) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	m, err := writer.DecodeManifest(data)
	if err != nil {
		t.Fatal(err)
	}
	return &m
}
