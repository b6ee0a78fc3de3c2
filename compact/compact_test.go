package compact

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ddbtape/ddbtape/catalog"
	"github.com/ddbtape/ddbtape/checkpoint"
	"github.com/ddbtape/ddbtape/replay"
	"github.com/ddbtape/ddbtape/storage"
	"github.com/ddbtape/ddbtape/writer"
)

// restoreWithout restores at tm from the listing of b less the snapshot skip: what a
// restore would give had the compaction never happened.
func restoreWithout(ctx context.Context, t *testing.T, h *history, skip string, tm time.Time) (map[string]string, catalog.Plan) {
	t.Helper()
	l, err := catalog.List(ctx, h.Bucket, h.B.Checkpoints(), testTable)
	if err != nil {
		t.Fatal(err)
	}
	l.Snapshots = slices.DeleteFunc(l.Snapshots, func(s catalog.Snapshot) bool { return s.ID == skip })
	p, err := catalog.NewPlan(l, tm)
	if err != nil {
		t.Fatalf("restore at %s without %s: %v", tm, skip, err)
	}
	out := map[string]string{}
	tmp := t.TempDir()
	_, err = replay.Apply(ctx, p, replay.NewBucketReader(h.Bucket, testTable, tmp), replay.Options{TempDir: tmp}, func(e replay.Entry) error {
		out[e.Key[len(`{"pk":{"S":"`):len(`{"pk":{"S":"`)+3]] = e.Want
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out, p
}

func TestRun_RestoresFromTheCompactionEqualRestoresFromTheOriginal(t *testing.T) {
	ctx := context.Background()
	h := newHistory(t, 4) // scans at 00:00 and 02:00; changes every 5 and 7 minutes
	c := at("02:37").Add(20 * time.Second)
	res, err := Run(ctx, catalog.New(h.Bucket, testTable, h.B.Checkpoints()), Config{At: c, SpoolDir: t.TempDir(), Part: writer.PartPolicy{MaxRows: 4, MaxBytes: 1 << 20}})
	if err != nil {
		t.Fatal(err)
	}
	m := res.Manifest
	if res.Base != h.Snaps[1].SnapshotID || m.Method != "compaction" || !m.StartedAt.Equal(c) || !m.FinishedAt.Equal(c) ||
		m.CompactedFrom == nil || m.CompactedFrom.SnapshotID != h.Snaps[1].SnapshotID || !m.CompactedFrom.ChangesUntil.Equal(c) {
		t.Fatalf("compaction manifest: base %s method %s started %s finished %s from %+v", res.Base, m.Method, m.StartedAt, m.FinishedAt, m.CompactedFrom)
	}
	if want := h.State(c); m.ItemCount != int64(len(want)) || len(m.Parts) < 2 {
		t.Errorf("compaction holds %d items in %d parts, want %d items in parts of 4", m.ItemCount, len(m.Parts), len(want))
	}
	if !slices.Equal(m.KeySchema, h.Snaps[1].KeySchema) || m.TableARN != h.Snaps[1].TableARN {
		t.Errorf("table description not carried over from the base: %+v", m)
	}
	if res.Stats.Segments == 0 || res.Stats.Replayed == 0 {
		t.Errorf("stats %+v: the merge read no change", res.Stats)
	}

	tmp := t.TempDir()
	for _, tm := range []time.Time{c, c.Add(time.Second), c.Add(30 * time.Second), c.Add(time.Minute), c.Add(5 * time.Minute), at("03:00"), at("03:41"), h.End} {
		got, p, err := restoreAt(ctx, h.Bucket, h.B.Checkpoints(), testTable, tm, tmp)
		if err != nil {
			t.Fatalf("restore at %s: %v", tm, err)
		}
		if p.Snapshot.ID != m.SnapshotID {
			t.Errorf("restore at %s starts from %s, want the compaction %s", tm, p.Snapshot.ID, m.SnapshotID)
		}
		orig, _ := restoreWithout(ctx, t, h, m.SnapshotID, tm)
		if !maps.Equal(got, orig) || !maps.Equal(got, h.State(tm)) {
			t.Errorf("restore at %s: %d items from the compaction, %d from the original, %d in the table", tm, len(got), len(orig), len(h.State(tm)))
		}
	}
	// Before C, restores keep using the older snapshot.
	if _, p, err := restoreAt(ctx, h.Bucket, h.B.Checkpoints(), testTable, c.Add(-time.Second), tmp); err != nil || p.Snapshot.ID != h.Snaps[1].SnapshotID {
		t.Errorf("restore just before C starts from %s (%v), want %s", p.Snapshot.ID, err, h.Snaps[1].SnapshotID)
	}
}

// A write made just after the capture's poll at C can be stamped at or before C (stamps
// are rounded down) and stored only later. The compaction lacks it; the replay margin of
// restores from the compaction must bring it back.
func TestRun_AChangeStampedBeforeCButStoredAfterTheCompactionIsReplayed(t *testing.T) {
	ctx := context.Background()
	h := newHistory(t, 4)
	c := at("03:10")
	res, err := Run(ctx, catalog.New(h.Bucket, testTable, h.B.Checkpoints()), Config{At: c, SpoolDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	// It arrives: key k20 on a third shard, stamped 20 seconds before C, and k21 stamped
	// at C itself.
	var late []writer.Change
	for i, stamp := range []time.Time{c.Add(-20 * time.Second), c} {
		k := fmt.Sprintf("k2%d", i)
		img := itemJSON(k, 99)
		late = append(late, writer.Change{TableName: testTable, StreamARN: testStream, ShardID: "shard-3", SequenceNumber: fmt.Sprint(500 + i),
			EventID: "late", EventName: "INSERT", ApproximateCreationTime: stamp, CapturedAt: c.Add(time.Minute), Keys: keyJSON(k), NewImage: &img, SizeBytes: 40})
	}
	if _, err := h.B.Segment(ctx, late); err != nil {
		t.Fatal(err)
	}
	if err := h.B.Checkpoint(ctx, []checkpoint.Position{{StreamARN: testStream, ShardID: "shard-3", CoveredFrom: h.T0, CoveredUntil: h.End, SequenceNumber: "501", LastRecordTime: c}}); err != nil {
		t.Fatal(err)
	}
	h.Changes = append(h.Changes, late...)
	slices.SortStableFunc(h.Changes, func(a, b writer.Change) int { return a.ApproximateCreationTime.Compare(b.ApproximateCreationTime) })

	tmp := t.TempDir()
	for _, tm := range []time.Time{c, c.Add(10 * time.Second), at("03:30")} {
		got, p, err := restoreAt(ctx, h.Bucket, h.B.Checkpoints(), testTable, tm, tmp)
		if err != nil || p.Snapshot.ID != res.Manifest.SnapshotID {
			t.Fatalf("restore at %s from %s: %v", tm, p.Snapshot.ID, err)
		}
		if got["k20"] == "" || got["k21"] == "" || !maps.Equal(got, h.State(tm)) {
			t.Errorf("restore at %s: k20 %q, k21 %q; equal to the table: %v", tm, got["k20"], got["k21"], maps.Equal(got, h.State(tm)))
		}
	}
}

func TestRun_DefaultsToTheWindowEndAndIsUpToDateAfterwards(t *testing.T) {
	ctx := context.Background()
	h := newHistory(t, 3)
	// The checkpoint covers until 03:00; make it a moment with a fraction of a second.
	for _, shard := range []string{"shard-1", "shard-2"} {
		seq, last := h.LastSeq(shard)
		if err := h.B.Checkpoint(ctx, []checkpoint.Position{{StreamARN: testStream, ShardID: shard, CoveredFrom: h.T0.Add(-time.Hour),
			CoveredUntil: h.End.Add(1500 * time.Millisecond), SequenceNumber: seq, LastRecordTime: last}}); err != nil {
			t.Fatal(err)
		}
	}
	res, err := Run(ctx, catalog.New(h.Bucket, testTable, h.B.Checkpoints()), Config{SpoolDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if want := h.End.Add(time.Second); !res.Manifest.FinishedAt.Equal(want) {
		t.Errorf("compaction at %s, want the window end to the second, %s", res.Manifest.FinishedAt, want)
	}
	_, err = Run(ctx, catalog.New(h.Bucket, testTable, h.B.Checkpoints()), Config{SpoolDir: t.TempDir()})
	if !errors.Is(err, ErrUpToDate) {
		t.Errorf("second compaction = %v, want ErrUpToDate", err)
	}
	_, err = Run(ctx, catalog.New(h.Bucket, testTable, h.B.Checkpoints()), Config{At: at("01:00"), SpoolDir: t.TempDir()})
	if !errors.Is(err, ErrUpToDate) {
		t.Errorf("compaction at a time before the newest snapshot = %v, want ErrUpToDate", err)
	}
}

func TestRun_RefusesATimeOutsideTheWindow(t *testing.T) {
	ctx := context.Background()
	h := newHistory(t, 3)
	_, err := Run(ctx, catalog.New(h.Bucket, testTable, h.B.Checkpoints()), Config{At: h.End.Add(time.Hour), SpoolDir: t.TempDir()})
	var ce *catalog.CoverageError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "restorable window") {
		t.Errorf("compaction past the window end = %v, want a CoverageError naming the window", err)
	}
}

// failManifest refuses to store manifests.
type failManifest struct{ storage.Bucket }

func (b failManifest) Create(ctx context.Context, key string, r io.Reader) error {
	if strings.HasSuffix(key, "/"+writer.ManifestName) {
		return errors.New("injected: manifest write failed")
	}
	return b.Bucket.Create(ctx, key, r)
}

func TestRun_AFailedCompactionLeavesNoPartsAndNoLiveLock(t *testing.T) {
	ctx := context.Background()
	h := newHistory(t, 3)
	before, err := h.Bucket.List(ctx, testTable+"/")
	if err != nil {
		t.Fatal(err)
	}
	_, err = Run(ctx, catalog.New(failManifest{h.Bucket}, testTable, h.B.Checkpoints()), Config{At: at("02:30"), SpoolDir: t.TempDir(), Part: writer.PartPolicy{MaxRows: 3, MaxBytes: 1 << 20}})
	if err == nil || !strings.Contains(err.Error(), "injected") {
		t.Fatalf("Run = %v, want the injected failure", err)
	}
	after, err := h.Bucket.List(ctx, testTable+"/")
	if err != nil {
		t.Fatal(err)
	}
	var extra []string
	for _, o := range after {
		// Its retention lock stays, released (readers delete nothing).
		if !slices.ContainsFunc(before, func(b storage.Object) bool { return b.Key == o.Key }) && !strings.HasPrefix(o.Key, catalog.LocksPrefix(testTable)) {
			extra = append(extra, o.Key)
		}
	}
	if len(extra) > 0 {
		t.Errorf("a failed compaction left %v", extra)
	}
	if live, _, err := catalog.Locks(ctx, h.Bucket, testTable, time.Now()); err != nil || len(live) != 0 {
		t.Errorf("a failed compaction left live locks %v (%v)", live, err)
	}
}
