package retention

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ddbtape/ddbtape/catalog"
	"github.com/ddbtape/ddbtape/storage"
	"github.com/ddbtape/ddbtape/writer"
)

// writeLock stores a reader's lock as catalog.Hold writes it.
func writeLock(ctx context.Context, b storage.Bucket, key string, at, expires time.Time) error {
	data, err := json.Marshal(map[string]time.Time{"at": at, "expires": expires})
	if err != nil {
		return err
	}
	return b.Put(ctx, key, bytes.NewReader(data))
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

func TestRun_DeletesWhatNoRetainedRestorePointNeedsAndRestoresStayExact(t *testing.T) {
	ctx := context.Background()
	h := newHistory(t, 8) // scans at 00:00, 02:00, 04:00, 06:00
	cp := h.B.Checkpoints()
	segsBefore := objectKeys(t, h.Bucket, writer.ChangesPrefix(testTable))

	res, err := Run(ctx, catalog.New(h.Bucket, testTable, cp), Config{Retention: 3 * time.Hour, Now: func() time.Time { return h.End }})
	if err != nil {
		t.Fatal(err)
	}
	base := h.Snaps[2] // 04:00-04:03: the newest one finished before the horizon 05:00
	if !res.Horizon.Equal(at("05:00")) || res.Base != base.SnapshotID || !res.WindowStart.Equal(base.FinishedAt) {
		t.Fatalf("horizon %s base %s window start %s, want 05:00 %s %s", res.Horizon, res.Base, res.WindowStart, base.SnapshotID, base.FinishedAt)
	}
	if got, want := res.Snapshots, []string{h.Snaps[0].SnapshotID, h.Snaps[1].SnapshotID}; !equalStrings(got, want) {
		t.Errorf("deleted snapshots %v, want %v", got, want)
	}
	for _, m := range h.Snaps[:2] {
		if left := objectKeys(t, h.Bucket, writer.SnapshotDir(testTable, m.SnapshotID)); len(left) != 0 {
			t.Errorf("snapshot %s still has %v", m.SnapshotID, left)
		}
	}
	for _, m := range h.Snaps[2:] {
		if _, err := h.Bucket.Open(ctx, writer.ManifestKey(testTable, m.SnapshotID)); err != nil {
			t.Errorf("kept snapshot %s: %v", m.SnapshotID, err)
		}
	}
	segsAfter := objectKeys(t, h.Bucket, writer.ChangesPrefix(testTable))
	if len(res.Segments) == 0 || len(segsAfter) != len(segsBefore)-len(res.Segments) {
		t.Errorf("%d segments deleted, %d of %d left", len(res.Segments), len(segsAfter), len(segsBefore))
	}
	for _, s := range res.Segments {
		// Replay of the base starts at 03:59: its hour less a margin is 03:00.
		if !s.Name.Hour.Before(at("03:00")) || segsAfter[s.Key] {
			t.Errorf("segment %s (hour %s) deleted too early or still there", s.Key, s.Name.Hour)
		}
	}
	if len(res.Windows) != 1 || !res.Windows[0].From.Equal(base.FinishedAt) || !res.Windows[0].Until.Equal(h.End) {
		t.Errorf("windows after %v, want %s to %s", res.Windows, base.FinishedAt, h.End)
	}

	// Every restore point from the new window start on is exactly the table's state.
	tmp := t.TempDir()
	for _, tm := range []time.Time{base.FinishedAt, at("05:00"), at("05:59"), at("06:03"), at("07:31"), h.End} {
		got, _, err := restoreAt(ctx, h.Bucket, cp, testTable, tm, tmp)
		if err != nil {
			t.Fatalf("restore at %s: %v", tm, err)
		}
		if want := h.State(tm); !maps.Equal(got, want) {
			t.Errorf("restore at %s: %d items, want %d", tm, len(got), len(want))
		}
	}
	// Just before it, a restore fails and names the window.
	_, _, err = restoreAt(ctx, h.Bucket, cp, testTable, base.FinishedAt.Add(-time.Second), tmp)
	if !errors.Is(err, catalog.ErrNoCoverage) || !strings.Contains(err.Error(), "restorable window: "+base.FinishedAt.Format(time.RFC3339)) {
		t.Errorf("restore just before the window = %v, want ErrNoCoverage naming the window", err)
	}
	if hz, err := catalog.Horizon(ctx, h.Bucket, testTable); err != nil || !hz.Equal(base.FinishedAt) {
		t.Errorf("Horizon = %s, %v; want %s", hz, err, base.FinishedAt)
	}

	// A second run at the same time finds nothing more to delete.
	again, err := Run(ctx, catalog.New(h.Bucket, testTable, cp), Config{Retention: 3 * time.Hour, Now: func() time.Time { return h.End }})
	if err != nil || !again.Empty() || again.Deleted != 0 {
		t.Errorf("second run = %+v, %v; want nothing deleted", again.Decision, err)
	}
}

func equalStrings(a, b []string) bool { return strings.Join(a, ",") == strings.Join(b, ",") }

func TestRun_DeletesNothingWhenNothingAfterTheHorizonIsRestorable(t *testing.T) {
	ctx := context.Background()
	h := newHistory(t, 4)
	before := objectKeys(t, h.Bucket, testTable+"/")
	// Capture stopped at the end of the history; two days later nothing is restorable in
	// the last day, and the old backup is all there is.
	res, err := Run(ctx, catalog.New(h.Bucket, testTable, h.B.Checkpoints()), Config{Retention: 24 * time.Hour, Now: func() time.Time { return h.End.Add(48 * time.Hour) }})
	if err != nil || !res.NothingRestorable || res.Deleted != 0 {
		t.Fatalf("Run = %+v, %v; want nothing restorable and nothing deleted", res, err)
	}
	if after := objectKeys(t, h.Bucket, testTable+"/"); !maps.Equal(before, after) {
		t.Errorf("objects changed: %d before, %d after", len(before), len(after))
	}
}

func TestRun_KeepsWhatALiveLockNeedsAndDeletesExpiredLocks(t *testing.T) {
	ctx := context.Background()
	h := newHistory(t, 8)
	cp := h.B.Checkpoints()
	now := h.End
	clock := func() time.Time { return now }
	held := make(chan struct{})
	release := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- catalog.Hold(ctx, h.Bucket, testTable, at("01:00"), catalog.HoldOptions{Purpose: "restore", TTL: time.Hour, Now: clock}, func(context.Context) error {
			close(held)
			<-release
			return nil
		})
	}()
	<-held
	if n := len(objectKeys(t, h.Bucket, catalog.LocksPrefix(testTable))); n != 1 {
		t.Fatalf("%d lock objects while held, want 1", n)
	}
	res, err := Run(ctx, catalog.New(h.Bucket, testTable, cp), Config{Retention: 3 * time.Hour, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	// The lock asks for 01:00, which only the 00:00 snapshot can serve: nothing may go.
	if !res.Horizon.Equal(at("01:00")) || res.Base != h.Snaps[0].SnapshotID || len(res.Snapshots) != 0 {
		t.Errorf("with a lock at 01:00: horizon %s base %s deletes %v; want 01:00, %s, nothing", res.Horizon, res.Base, res.Snapshots, h.Snaps[0].SnapshotID)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// Released, not deleted (a reader deletes nothing): no longer live.
	if live, expired, err := catalog.Locks(ctx, h.Bucket, testTable, now); err != nil || len(live) != 0 || len(expired) != 1 {
		t.Errorf("after catalog.Hold returned: live locks %v, released %v, %v; want none live, one released", live, expired, err)
	}

	// A lock whose holder died expires, and the next run deletes it with the rest.
	dead := catalog.LocksPrefix(testTable) + "dead.json"
	if err := writeLock(ctx, h.Bucket, dead, at("01:00"), now.Add(-catalog.LockSkew-time.Second)); err != nil {
		t.Fatal(err)
	}
	res, err = Run(ctx, catalog.New(h.Bucket, testTable, cp), Config{Retention: 3 * time.Hour, Now: clock})
	if err != nil || len(res.Snapshots) != 2 {
		t.Fatalf("Run with an expired lock = %v, deleted %v; want the two old snapshots", err, res.Snapshots)
	}
	if n := len(objectKeys(t, h.Bucket, catalog.LocksPrefix(testTable))); n != 0 {
		t.Errorf("%d lock objects after the run, want the released and the expired ones deleted", n)
	}
}

func TestHold_RefusesATimeRetentionHasMovedPast(t *testing.T) {
	ctx := context.Background()
	h := newHistory(t, 8)
	if _, err := Run(ctx, catalog.New(h.Bucket, testTable, h.B.Checkpoints()), Config{Retention: 3 * time.Hour, Now: func() time.Time { return h.End }}); err != nil {
		t.Fatal(err)
	}
	start := h.Snaps[2].FinishedAt
	called := false
	err := catalog.Hold(ctx, h.Bucket, testTable, start.Add(-time.Second), catalog.HoldOptions{}, func(context.Context) error { called = true; return nil })
	var pe *catalog.PrunedError
	if !errors.As(err, &pe) || !errors.Is(err, catalog.ErrPruned) || called || !strings.Contains(err.Error(), start.Format(time.RFC3339)) {
		t.Errorf("catalog.Hold before the window = %v (fn called %v), want a catalog.PrunedError naming %s", err, called, start)
	}
	if err := catalog.Hold(ctx, h.Bucket, testTable, start, catalog.HoldOptions{}, func(context.Context) error { called = true; return nil }); err != nil || !called {
		t.Errorf("catalog.Hold at the window start = %v (fn called %v)", err, called)
	}
	if live, _, err := catalog.Locks(ctx, h.Bucket, testTable, time.Now()); err != nil || len(live) != 0 {
		t.Errorf("live locks left: %v, %v; want none", live, err)
	}
}

// lockOnMarker is a bucket in which a reader takes a lock at `at` the moment the marker
// is written: the race the second listing of locks exists for.
type lockOnMarker struct {
	storage.Bucket
	table string
	at    time.Time
}

func (b lockOnMarker) Put(ctx context.Context, key string, r io.Reader) error {
	if err := b.Bucket.Put(ctx, key, r); err != nil {
		return err
	}
	if key == catalog.MarkerKey(b.table) {
		return writeLock(ctx, b.Bucket, catalog.LocksPrefix(b.table)+"late.json", b.at, time.Now().Add(time.Hour))
	}
	return nil
}

func TestRun_DefersWhenAReaderLocksWhileItDecides(t *testing.T) {
	ctx := context.Background()
	h := newHistory(t, 8)
	b := lockOnMarker{Bucket: h.Bucket, table: testTable, at: at("01:00")}
	res, err := Run(ctx, catalog.New(b, testTable, h.B.Checkpoints()), Config{Retention: 3 * time.Hour, Now: func() time.Time { return h.End }})
	if err != nil || !res.Deferred || res.Deleted != 0 {
		t.Fatalf("Run = deferred %v, deleted %d, %v; want deferred with nothing deleted", res.Deferred, res.Deleted, err)
	}
	if _, err := h.Bucket.Open(ctx, writer.ManifestKey(testTable, h.Snaps[0].SnapshotID)); err != nil {
		t.Errorf("the oldest snapshot lost its manifest: %v", err)
	}
}

// failLockRenewal refuses every write of a lock after the first.
type failLockRenewal struct {
	storage.Bucket
	puts atomic.Int32
}

func (b *failLockRenewal) Put(ctx context.Context, key string, r io.Reader) error {
	if strings.Contains(key, "/locks/") && b.puts.Add(1) > 1 {
		return errors.New("injected: destination unreachable")
	}
	return b.Bucket.Put(ctx, key, r)
}

func TestHold_CancelsTheReaderWhenItsLockLapses(t *testing.T) {
	h := newHistory(t, 1)
	b := &failLockRenewal{Bucket: h.Bucket}
	err := catalog.Hold(context.Background(), b, testTable, h.End, catalog.HoldOptions{TTL: 60 * time.Millisecond}, func(ctx context.Context) error {
		<-ctx.Done()
		return ctx.Err()
	})
	if !errors.Is(err, catalog.ErrLockLost) {
		t.Errorf("catalog.Hold = %v, want catalog.ErrLockLost", err)
	}
}
