package retention

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ddbtape/ddbtape/catalog"
	"github.com/ddbtape/ddbtape/storage"
	"github.com/ddbtape/ddbtape/writer"
)

func readObject(t *testing.T, b storage.Bucket, key string) []byte {
	t.Helper()
	rc, err := b.Open(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// damages are the ways a base snapshot's part can be broken; each changes part-00001.
var damages = []struct {
	name   string
	damage func(t *testing.T, b storage.Bucket, key string)
	want   string // in the problem
}{
	{"PartMissing", func(t *testing.T, b storage.Bucket, key string) {
		if err := b.Delete(context.Background(), key); err != nil {
			t.Fatal(err)
		}
	}, "part-00001.parquet is missing"},
	{"PartTruncated", func(t *testing.T, b storage.Bucket, key string) {
		data := readObject(t, b, key)
		if err := b.Put(context.Background(), key, bytes.NewReader(data[:len(data)/2])); err != nil {
			t.Fatal(err)
		}
	}, "bytes, manifest says"},
	{"PartAlteredInPlace", func(t *testing.T, b storage.Bucket, key string) {
		data := readObject(t, b, key)
		data[len(data)/2] ^= 0xff // same size: only the SHA-256 tells
		if err := b.Put(context.Background(), key, bytes.NewReader(data)); err != nil {
			t.Fatal(err)
		}
	}, "SHA-256"},
}

// The snapshot a run would adopt as the window's base is damaged: the run must not adopt
// it, must say so, and must keep the older snapshot and the segments that restore every
// retained point without it.
func TestRun_RefusesToAdoptABaseWithAMissingOrAlteredPart(t *testing.T) {
	for _, tc := range damages {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			h := newHistory(t, 8) // scans at 00:00, 02:00, 04:00, 06:00
			cp := h.B.Checkpoints()
			damaged := h.Snaps[2] // the base for the horizon 05:00
			tc.damage(t, h.Bucket, writer.SnapshotDir(testTable, damaged.SnapshotID)+"part-00001.parquet")
			damagedObjs := objectKeys(t, h.Bucket, writer.SnapshotDir(testTable, damaged.SnapshotID))

			var logs bytes.Buffer
			res, err := Run(ctx, catalog.New(h.Bucket, testTable, cp), Config{Retention: 3 * time.Hour, Now: func() time.Time { return h.End },
				Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Rejected) != 1 || res.Rejected[0].Snapshot != damaged.SnapshotID || !strings.Contains(res.Rejected[0].Problem, tc.want) {
				t.Fatalf("Rejected = %+v, want %s with a problem naming %q", res.Rejected, damaged.SnapshotID, tc.want)
			}
			if !strings.Contains(logs.String(), "level=ERROR") || !strings.Contains(logs.String(), "damaged snapshot is not adopted") || !strings.Contains(logs.String(), damaged.SnapshotID) {
				t.Errorf("the log does not say which snapshot was refused:\n%s", logs.String())
			}
			if res.Base != h.Snaps[1].SnapshotID || !equalStrings(res.Snapshots, []string{h.Snaps[0].SnapshotID}) {
				t.Errorf("base %s, deleted %v; want base %s and only %s deleted", res.Base, res.Snapshots, h.Snaps[1].SnapshotID, h.Snaps[0].SnapshotID)
			}
			for _, m := range h.Snaps[1:] {
				if _, err := h.Bucket.Open(ctx, writer.ManifestKey(testTable, m.SnapshotID)); err != nil {
					t.Errorf("snapshot %s lost its manifest: %v", m.SnapshotID, err)
				}
			}
			if left := objectKeys(t, h.Bucket, writer.SnapshotDir(testTable, damaged.SnapshotID)); len(left) != len(damagedObjs) {
				t.Errorf("the damaged snapshot has %d objects left of %d: it is kept for inspection", len(left), len(damagedObjs))
			}

			// Without the damaged snapshot (an operator deletes it), the older snapshot
			// and the segments retention kept restore every point of the window exactly.
			// The decision checked above is the same for every damage: restoring once is
			// enough.
			if tc.name != damages[0].name {
				return
			}
			if err := h.Bucket.Delete(ctx, writer.ManifestKey(testTable, damaged.SnapshotID)); err != nil {
				t.Fatal(err)
			}
			n := h.CheckRestores(t, h.Bucket)
			t.Logf("%d restore points equal the model", n)
		})
	}
}

// countingOpens counts the Opens of snapshot parts.
type countingOpens struct {
	storage.Bucket
	parts atomic.Int32
}

func (b *countingOpens) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	if strings.Contains(key, "/snapshots/") && strings.HasSuffix(key, ".parquet") {
		b.parts.Add(1)
	}
	return b.Bucket.Open(ctx, key)
}

func TestCheckBase_ReadsThePartsOncePerVerifiedAndStillSeesAMissingPart(t *testing.T) {
	ctx := context.Background()
	h := newHistory(t, 3)
	b := &countingOpens{Bucket: h.Bucket}
	m := h.Snaps[1]
	dir := writer.SnapshotDir(testTable, m.SnapshotID)
	list := func() []storage.Object {
		objs, err := h.Bucket.List(ctx, dir)
		if err != nil {
			t.Fatal(err)
		}
		return objs
	}
	check := func(v *Verified) string {
		t.Helper()
		problem, err := checkBase(ctx, b, testTable, m.SnapshotID, &m, list(), v)
		if err != nil {
			t.Fatal(err)
		}
		return problem
	}
	v := &Verified{}
	for run, want := range []int32{int32(len(m.Parts)), 0, 0} {
		b.parts.Store(0)
		if p := check(v); p != "" || b.parts.Load() != want {
			t.Fatalf("run %d: problem %q after reading %d parts, want none after reading %d", run+1, p, b.parts.Load(), want)
		}
	}
	// Without a Verified every check reads.
	b.parts.Store(0)
	if p := check(nil); p != "" || b.parts.Load() != int32(len(m.Parts)) {
		t.Fatalf("without Verified: problem %q after reading %d parts, want none after %d", p, b.parts.Load(), len(m.Parts))
	}
	// A part deleted after the snapshot was verified shows in the listing on the next run.
	if err := h.Bucket.Delete(ctx, dir+m.Parts[0].Name); err != nil {
		t.Fatal(err)
	}
	b.parts.Store(0)
	if p := check(v); !strings.Contains(p, m.Parts[0].Name+" is missing") || b.parts.Load() != 0 {
		t.Fatalf("after a part was deleted: problem %q (read %d parts), want it named as missing from the listing", p, b.parts.Load())
	}
}
