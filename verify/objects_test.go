package verify

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ddbtape/ddbtape/internal/backuptest"
	"github.com/ddbtape/ddbtape/ledger"
	"github.com/ddbtape/ddbtape/storage/dir"
	"github.com/ddbtape/ddbtape/writer"
)

const objTable = "orders"

var objT0 = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

func objChange(seq int, stamp time.Time) writer.Change {
	pk := fmt.Sprint("k", seq)
	img := fmt.Sprintf(`{"pk":{"S":%q},"v":{"N":"%d"}}`, pk, seq)
	return writer.Change{TableName: objTable, StreamARN: "arn:aws:dynamodb:us-east-1:1:table/orders/stream/2026-03-01T00:00:00.000",
		ShardID: "shardId-1", SequenceNumber: fmt.Sprint(seq), EventID: fmt.Sprint("e", seq), EventName: "MODIFY",
		ApproximateCreationTime: stamp, CapturedAt: stamp, Keys: fmt.Sprintf(`{"pk":{"S":%q}}`, pk), NewImage: &img, SizeBytes: 10}
}

// objBackup is a snapshot at 10:00 and three segments at 10:05, 11:05 and 12:05, the
// first two with their checksums in the ledger, the third without (as written before
// ddbtape recorded them).
type objBackup struct {
	root string
	b    *backuptest.Builder
	segs []writer.SegmentName
}

func newObjBackup(t *testing.T) objBackup {
	t.Helper()
	ctx := context.Background()
	root := t.TempDir()
	bucket, err := dir.New(root)
	if err != nil {
		t.Fatal(err)
	}
	b := &backuptest.Builder{Bucket: bucket, Table: objTable, SpoolDir: t.TempDir(), Record: true}
	if _, err := b.Snapshot(ctx, "s1", objT0, objT0.Add(time.Minute), 50, 20, func(i int) writer.SnapshotItem {
		pk := fmt.Sprint("k", i)
		return writer.SnapshotItem{Keys: fmt.Sprintf(`{"pk":{"S":%q}}`, pk), Item: fmt.Sprintf(`{"pk":{"S":%q}}`, pk)}
	}); err != nil {
		t.Fatal(err)
	}
	ob := objBackup{root: root, b: b}
	for i := range 3 {
		b.Record = i < 2
		n, err := b.Segment(ctx, []writer.Change{objChange(10*i+1, objT0.Add(time.Duration(i)*time.Hour+5*time.Minute)), objChange(10*i+2, objT0.Add(time.Duration(i)*time.Hour+5*time.Minute))})
		if err != nil {
			t.Fatal(err)
		}
		ob.segs = append(ob.segs, n)
	}
	return ob
}

func (ob objBackup) path(key string) string { return filepath.Join(ob.root, filepath.FromSlash(key)) }

func (ob objBackup) check(t *testing.T) ObjectsReport {
	t.Helper()
	r, err := Objects(context.Background(), ob.b.Bucket, objTable, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestObjects_ACleanBackupPassesWithCounts(t *testing.T) {
	ob := newObjBackup(t)
	r := ob.check(t)
	if !r.OK() || r.Segments.Checked != 2 || r.Segments.Unrecorded != 1 || r.Parts.Checked != 3 || r.Manifests.Checked != 1 || r.Ledger.Checked != 2 {
		t.Fatalf("report %+v, want 2 segments checked, 1 unrecorded, 3 parts, 1 manifest, 2 ledger objects and no problem", r)
	}
	for _, want := range []string{"change segments: 2 checked, 1 without a recorded checksum", "snapshot parts: 3 checked, 0 damaged, 0 missing"} {
		if !strings.Contains(r.Summary(), want) {
			t.Errorf("summary lacks %q:\n%s", want, r.Summary())
		}
	}
}

func TestObjects_FindsEachKindOfDamageAndNamesTheFile(t *testing.T) {
	flip := func(t *testing.T, p string) {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		data[len(data)/2] ^= 0x01
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name   string
		damage func(t *testing.T, ob objBackup) string // the file the problem must name
		count  func(r ObjectsReport) int
		msg    string
	}{
		{"a flipped bit in a recorded segment", func(t *testing.T, ob objBackup) string {
			p := ob.path(ob.segs[0].Key())
			flip(t, p)
			return p
		}, func(r ObjectsReport) int { return r.Segments.Damaged }, "the ledger recorded"},
		{"a recorded segment deleted", func(t *testing.T, ob objBackup) string {
			p := ob.path(ob.segs[1].Key())
			if err := os.Remove(p); err != nil {
				t.Fatal(err)
			}
			return p
		}, func(r ObjectsReport) int { return r.Segments.Missing }, "is missing"},
		{"a flipped bit in a part", func(t *testing.T, ob objBackup) string {
			p := ob.path(writer.SnapshotDir(objTable, "s1") + "part-00001.parquet")
			flip(t, p)
			return p
		}, func(r ObjectsReport) int { return r.Parts.Damaged }, "SHA-256"},
		{"a part deleted", func(t *testing.T, ob objBackup) string {
			p := ob.path(writer.SnapshotDir(objTable, "s1") + "part-00002.parquet")
			if err := os.Remove(p); err != nil {
				t.Fatal(err)
			}
			return p
		}, func(r ObjectsReport) int { return r.Parts.Missing }, "is missing"},
		{"a damaged manifest", func(t *testing.T, ob objBackup) string {
			p := ob.path(writer.ManifestKey(objTable, "s1"))
			if err := os.WriteFile(p, []byte("{"), 0o644); err != nil {
				t.Fatal(err)
			}
			return p
		}, func(r ObjectsReport) int { return r.Manifests.Damaged }, "invalid snapshot manifest"},
		{"a damaged ledger object", func(t *testing.T, ob objBackup) string {
			entries, err := os.ReadDir(ob.path(ledger.Prefix(objTable) + "log"))
			if err != nil || len(entries) == 0 {
				t.Fatalf("ledger objects: %v %v", entries, err)
			}
			p := ob.path(ledger.Prefix(objTable) + "log/" + entries[0].Name())
			if err := os.WriteFile(p, []byte(`{"version":1,"objects":[`), 0o644); err != nil {
				t.Fatal(err)
			}
			return p
		}, func(r ObjectsReport) int { return r.Ledger.Damaged }, "corrupt"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ob := newObjBackup(t)
			p := tc.damage(t, ob)
			r := ob.check(t)
			if r.OK() || tc.count(r) != 1 || len(r.Problems) != 1 {
				t.Fatalf("report %+v, want exactly this one problem", r)
			}
			if !strings.Contains(r.Problems[0], p) || !strings.Contains(r.Problems[0], tc.msg) {
				t.Errorf("problem %q does not name %s with %q", r.Problems[0], p, tc.msg)
			}
		})
	}
}

// A recorded segment that retention deleted (in an hour before the oldest snapshot's
// replay start) is not missing.
func TestObjects_ASegmentRetentionMayHaveDeletedIsNotMissing(t *testing.T) {
	ctx := context.Background()
	ob := newObjBackup(t)
	b := ob.b
	b.Record = true
	old, err := b.Segment(ctx, []writer.Change{objChange(1000, objT0.Add(-3*time.Hour))})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(ob.path(old.Key())); err != nil {
		t.Fatal(err)
	}
	if r := ob.check(t); !r.OK() {
		t.Fatalf("problems %v: a segment older than every kept snapshot's replay may be gone", r.Problems)
	}
}
