package retention

import (
	"context"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ddbtape/ddbtape/catalog"
	"github.com/ddbtape/ddbtape/storage"
	"github.com/ddbtape/ddbtape/writer"
)

// s3Locked is a bucket under S3 Object Lock as S3 itself behaves: objects matching held
// are held until until, and a delete of a held object "succeeds" by hiding it behind a
// delete marker, so only a check of each object's retention keeps a run from hiding it.
// It records every held object that was deleted.
type s3Locked struct {
	storage.Bucket
	held  func(key string) bool
	until time.Time

	mu      sync.Mutex
	removed []string // held objects deleted (hidden)
}

func (l *s3Locked) LockConfig(context.Context) (storage.LockConfig, error) {
	return storage.LockConfig{Enabled: true}, nil
}

func (l *s3Locked) Retention(ctx context.Context, key string) (storage.Retention, error) {
	if _, err := l.Bucket.Open(ctx, key); err != nil {
		return storage.Retention{}, err
	}
	if l.held(key) {
		return storage.Retention{Mode: storage.LockCompliance, Until: l.until}, nil
	}
	return storage.Retention{}, nil
}

func (l *s3Locked) Delete(ctx context.Context, key string) error {
	if l.held(key) {
		l.mu.Lock()
		l.removed = append(l.removed, key)
		l.mu.Unlock()
	}
	return l.Bucket.Delete(ctx, key)
}

// A run under Object Lock deletes only what its lock released: a snapshot whose manifest
// is held stays whole with the segments its restores need, a held segment stays alone,
// every restore point from the kept snapshot on restores exactly, the run says what it
// left and until when, and the next run after the lock ends deletes it.
func TestRun_UnderObjectLockDeletesOnlyWhatTheLockReleasedAndRestoresStayExact(t *testing.T) {
	ctx := context.Background()
	h := newHistory(t, 8) // scans at 00:00, 02:00, 04:00, 06:00; retention 3h deletes the first two
	s0, s1 := h.Snaps[0], h.Snaps[1]
	until := h.End.Add(time.Hour)
	lb := &s3Locked{Bucket: h.Bucket, until: until, held: func(key string) bool {
		// Snapshot 02:00 and the segments of hour 00 are held; snapshot 00:00 is free.
		return strings.Contains(key, "/snapshots/"+s1.SnapshotID+"/") || strings.Contains(key, "/hour=00/")
	}}
	cp := h.B.Checkpoints()
	clock := func() time.Time { return h.End }
	res, err := Run(ctx, catalog.New(lb, testTable, cp), Config{Retention: 3 * time.Hour, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	if len(lb.removed) > 0 {
		t.Fatalf("the run deleted held objects: %v", lb.removed)
	}
	if !slices.Equal(res.KeptByLock, []string{s1.SnapshotID}) || !slices.Equal(res.Snapshots, []string{s0.SnapshotID}) {
		t.Errorf("kept by lock %v, deleted %v; want %s kept whole and %s deleted", res.KeptByLock, res.Snapshots, s1.SnapshotID, s0.SnapshotID)
	}
	if res.Locked == 0 || !res.LockedUntil.Equal(until) {
		t.Errorf("Locked %d until %s; want the held segments of hour 00 counted, until %s", res.Locked, res.LockedUntil, until)
	}
	if left := objectKeys(t, lb, writer.SnapshotDir(testTable, s0.SnapshotID)); len(left) != 0 {
		t.Errorf("the free snapshot %s still has %v", s0.SnapshotID, left)
	}
	if _, err := lb.Open(ctx, writer.ManifestKey(testTable, s1.SnapshotID)); err != nil {
		t.Errorf("the held snapshot's manifest: %v", err)
	}
	tmp := t.TempDir()
	for _, tm := range []time.Time{s1.FinishedAt, at("03:00"), at("05:00"), h.End} {
		got, _, err := restoreAt(ctx, lb, cp, testTable, tm, tmp)
		if err != nil {
			t.Fatalf("restore at %s after the run: %v", tm, err)
		}
		if want := h.State(tm); !maps.Equal(got, want) {
			t.Errorf("restore at %s: %d items, want %d", tm, len(got), len(want))
		}
	}

	// Once the lock has ended, the next run deletes what it left.
	later := func() time.Time { return until.Add(time.Minute) }
	res, err = Run(ctx, catalog.New(lb, testTable, cp), Config{Retention: 3*time.Hour + until.Add(time.Minute).Sub(h.End), Now: later})
	if err != nil {
		t.Fatal(err)
	}
	if res.Locked != 0 || len(res.KeptByLock) != 0 || !slices.Contains(res.Snapshots, s1.SnapshotID) {
		t.Errorf("after the lock ended: locked %d, kept %v, deleted %v; want %s deleted", res.Locked, res.KeptByLock, res.Snapshots, s1.SnapshotID)
	}
	for k := range objectKeys(t, lb, writer.ChangesPrefix(testTable)) {
		if strings.Contains(k, "/hour=00/") {
			t.Errorf("segment %s of hour 00 outlived its lock", k)
		}
	}
}
