package compact

import (
	"bytes"
	"context"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ddbtape/ddbtape/catalog"
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
			res, err := Run(ctx, catalog.New(fb, testTable, cp), Config{At: c, SpoolDir: t.TempDir(), Part: writer.PartPolicy{MaxRows: 4, MaxBytes: 1 << 20}})
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
			rres, err := retention.Run(ctx, catalog.New(h.Bucket, testTable, cp), retention.Config{Retention: time.Hour, Now: func() time.Time { return h.End }})
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

// lateManifest refuses the manifest write but keeps its content, and stores it once the
// clean-up deleted a part: a request the server finished after the client gave up.
type lateManifest struct {
	storage.Bucket
	key  string
	data []byte
}

func (b *lateManifest) Create(ctx context.Context, key string, r io.Reader) error {
	if strings.HasSuffix(key, "/"+writer.ManifestName) {
		b.key = key
		b.data, _ = io.ReadAll(r)
		return faulty.ErrRefused
	}
	return b.Bucket.Create(ctx, key, r)
}

func (b *lateManifest) Delete(ctx context.Context, key string) error {
	if err := b.Bucket.Delete(ctx, key); err != nil {
		return err
	}
	if b.data != nil && strings.HasSuffix(key, ".parquet") {
		data := b.data
		b.data = nil
		return b.Bucket.Put(ctx, b.key, bytes.NewReader(data))
	}
	return nil
}

func TestRun_AFailedCompactionDeletesOnlyWhatNoManifestLists(t *testing.T) {
	manifest := faulty.Suffix("/" + writer.ManifestName)
	for _, tc := range []struct {
		name string
		wrap func(storage.Bucket) storage.Bucket
		// leftParts: the parts stay (the clean-up could not tell whether a manifest is
		// there); otherwise the snapshot directory is empty afterwards.
		leftParts bool
	}{
		{"ManifestRefused", func(b storage.Bucket) storage.Bucket {
			return faulty.New(b, faulty.Rule{Ops: faulty.Create, Key: manifest})
		}, false},
		{"PartStoredThenServerError", func(b storage.Bucket) storage.Bucket {
			return faulty.New(b, faulty.Rule{Ops: faulty.Create, Key: faulty.Suffix("/part-00001.parquet"), Stored: true})
		}, false},
		{"ManifestRefusedAndUnreadable", func(b storage.Bucket) storage.Bucket {
			// Only the compaction's own manifest (its id starts with C) cannot be read.
			ours := func(k string) bool { return manifest(k) && strings.Contains(k, "/20260301T023000Z-") }
			return faulty.New(b, faulty.Rule{Ops: faulty.Create, Key: manifest}, faulty.Rule{Ops: faulty.Open, Key: ours})
		}, true},
		{"ManifestLandsAfterThePartsWereDeleted", func(b storage.Bucket) storage.Bucket {
			return &lateManifest{Bucket: b}
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			h := newHistory(t, 3)
			before := objectKeys(t, h.Bucket, writer.SnapshotsPrefix(testTable))
			_, err := Run(ctx, catalog.New(tc.wrap(h.Bucket), testTable, h.B.Checkpoints()), Config{At: at("02:30"), SpoolDir: t.TempDir(), Part: writer.PartPolicy{MaxRows: 3, MaxBytes: 1 << 20}})
			if err == nil || !strings.Contains(err.Error(), "injected") {
				t.Fatalf("Run = %v, want the injected failure", err)
			}
			var added []string
			for k := range objectKeys(t, h.Bucket, writer.SnapshotsPrefix(testTable)) {
				if !before[k] {
					added = append(added, k)
				}
			}
			switch {
			case tc.leftParts && (len(added) < 2 || slices.ContainsFunc(added, manifest)):
				t.Errorf("left %v, want the parts and no manifest", added)
			case !tc.leftParts && len(added) != 0:
				t.Errorf("left %v, want nothing", added)
			}
			h.CheckSnapshotsWhole(t, h.Bucket)
			if tc.leftParts {
				// Restores ignore the directory without a manifest.
				h.CheckRestores(t, h.Bucket)
			}
		})
	}
}

func objectKeys(t *testing.T, b storage.Bucket, prefix string) map[string]bool {
	t.Helper()
	objs, err := b.List(context.Background(), prefix)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, o := range objs {
		out[o.Key] = true
	}
	return out
}
