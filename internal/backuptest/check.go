package backuptest

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/ddbtape/ddbtape/catalog"
	"github.com/ddbtape/ddbtape/replay"
	"github.com/ddbtape/ddbtape/storage"
	"github.com/ddbtape/ddbtape/writer"
)

// RestorePoints are the seconds at which a restore of the listing can differ from the
// restore a second earlier, and the second before each, inside every restorable window:
// the windows' ends, every change stamp, every snapshot finish. A restore at T applies
// the newest snapshot finished at or before T and the changes stamped at or before T, so
// between two such moments it returns the same items: checking these points checks
// every second of the windows.
func (h *History) RestorePoints(l catalog.Listing) []time.Time {
	var events []time.Time
	for _, c := range h.Changes {
		events = append(events, c.ApproximateCreationTime)
	}
	for _, s := range l.Snapshots {
		if s.Manifest != nil {
			events = append(events, s.Manifest.FinishedAt)
		}
	}
	var out []time.Time
	for _, w := range catalog.Windows(l) {
		out = append(out, w.From, w.Until)
		for _, e := range events {
			for _, t := range []time.Time{e.Add(-time.Second), e} {
				if w.Contains(t) {
					out = append(out, t)
				}
			}
		}
	}
	slices.SortFunc(out, time.Time.Compare)
	return slices.CompactFunc(out, time.Time.Equal)
}

// CheckRestores restores the backup in b at every one of RestorePoints and fails the test
// at the first restore that errs or differs from the model. It returns how many points it
// checked; none at all fails the test too (nothing was restorable).
func (h *History) CheckRestores(t testing.TB, b storage.Bucket) int {
	t.Helper()
	ctx := context.Background()
	l, err := catalog.List(ctx, b, h.B.Checkpoints(), h.B.Table)
	if err != nil {
		t.Fatal(err)
	}
	points := h.RestorePoints(l)
	if len(points) == 0 {
		t.Fatal("nothing is restorable")
	}
	tmp := t.TempDir()
	for _, tm := range points {
		got, err := restoreListing(ctx, b, l, tm, tmp)
		if err != nil {
			t.Fatalf("restore at %s: %v", tm.Format(time.RFC3339), err)
		}
		if want := h.State(tm); !maps.Equal(got, want) {
			t.Fatalf("restore at %s: %d items, the model holds %d (first difference: %s)", tm.Format(time.RFC3339), len(got), len(want), firstDifference(got, want))
		}
	}
	return len(points)
}

func restoreListing(ctx context.Context, b storage.Bucket, l catalog.Listing, tm time.Time, tmp string) (map[string]string, error) {
	p, err := catalog.NewPlan(l, tm)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	_, err = replay.Apply(ctx, p, replay.NewBucketReader(b, l.Table, tmp), replay.Options{TempDir: tmp, Parallelism: 2}, func(e replay.Entry) error {
		if e.HasWant {
			out[e.Key[len(`{"pk":{"S":"`):len(`{"pk":{"S":"`)+3]] = e.Want
		}
		return nil
	})
	return out, err
}

func firstDifference(got, want map[string]string) string {
	for _, k := range slices.Sorted(maps.Keys(want)) {
		if got[k] != want[k] {
			return fmt.Sprintf("%s is %q, want %q", k, got[k], want[k])
		}
	}
	for _, k := range slices.Sorted(maps.Keys(got)) {
		if _, ok := want[k]; !ok {
			return fmt.Sprintf("%s is %q, want absent", k, got[k])
		}
	}
	return "none"
}

// CheckSnapshotsWhole fails the test for every complete snapshot of the history's table
// in b whose directory lacks a part its manifest lists, or holds one whose size or
// SHA-256 differs: a snapshot a restore would pick and then fail on.
func (h *History) CheckSnapshotsWhole(t testing.TB, b storage.Bucket) {
	t.Helper()
	ctx := context.Background()
	table := h.B.Table
	l, err := catalog.List(ctx, b, h.B.Checkpoints(), table)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range l.Snapshots {
		if s.Manifest == nil {
			continue
		}
		for _, mp := range s.Manifest.Parts {
			key := writer.SnapshotDir(table, s.ID) + mp.Name
			rc, err := b.Open(ctx, key)
			if err != nil {
				t.Errorf("snapshot %s has a manifest but part %s: %v", s.ID, mp.Name, err)
				continue
			}
			if err := writer.VerifyPart(rc, mp); err != nil {
				t.Errorf("snapshot %s: %v", s.ID, err)
			}
			rc.Close()
		}
	}
}
