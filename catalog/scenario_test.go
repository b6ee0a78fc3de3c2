package catalog_test

import (
	"testing"
	"time"

	"github.com/ddbtape/ddbtape/catalog"
	"github.com/ddbtape/ddbtape/ledger"
	"github.com/ddbtape/ddbtape/replicator"
)

// A split whose quiet child is read while its busy child is not yet: the busy child,
// listed but unread, holds the window's end where its parent stopped, so no restore
// misses its changes; a compaction at the end changes no restore.
func TestWindow_SplitWithABusyAndAQuietChild(t *testing.T) {
	w := newWorld(t, true)
	for i := range 5 {
		w.put("root", key(i), i)
		w.tick(1)
	}
	// The busy child's first answer is slow: its quiet sibling is read and covered first.
	release := w.hold("busy")
	c := w.startCapture(nil)
	w.tick(2)
	w.snapshot(3 * time.Second)
	for i := range 5 {
		w.put("root", key(i), 10+i)
		w.tick(1)
	}
	w.tick(70)
	w.waitCovered(w.clock.Now().Add(-65 * time.Second))
	w.split("root", "quiet", "busy")
	for i := range 12 {
		w.put("busy", key(i%4), 100+i)
		w.tick(1)
		if i%3 == 0 {
			w.check()
		}
	}
	w.tick(70)
	w.check()
	release()
	w.waitCovered(w.clock.Now().Add(-65 * time.Second))
	w.compactAtEnd()
	for i := range 3 {
		w.put("busy", key(i), 200+i)
		w.tick(1)
	}
	w.tick(70)
	w.waitCovered(w.clock.Now().Add(-65 * time.Second))
	c.stop(t)
	w.check()
	t.Logf("%d seconds restored equal to the model, %d refused", w.checked, w.refused)
}

func key(i int) string { return "k" + string(rune('a'+i)) }

// A root shard that appears while capture runs holds the window back from the moment it
// may have existed: until it is listed by the last recorded listing, and until it is read.
func TestWindow_ANewRootShardAppearsMidRun(t *testing.T) {
	w := newWorld(t, true)
	for i := range 4 {
		w.put("root", key(i), i)
		w.tick(1)
	}
	// Listings are slow: the new root lives for a while before capture sees it.
	c := w.startCapture(func(cfg *replicator.Config) { cfg.RelistInterval = 400 * time.Millisecond })
	w.tick(2)
	w.snapshot(2 * time.Second)
	w.put("root", key(0), 10)
	w.tick(70)
	w.waitCovered(w.clock.Now().Add(-65 * time.Second))
	w.addShard("root2", "")
	for i := range 8 {
		w.put("root2", key(10+i), 20+i)
		w.put("root", key(i%4), 30+i)
		w.tick(1)
		w.check()
	}
	w.tick(70)
	w.waitCovered(w.clock.Now().Add(-65 * time.Second))
	w.compactAtEnd()
	w.put("root2", key(10), 99)
	w.tick(70)
	w.waitCovered(w.clock.Now().Add(-65 * time.Second))
	c.stop(t)
	w.check()
	t.Logf("%d seconds restored equal to the model, %d refused", w.checked, w.refused)
}

// A table whose stream is disabled and enabled again: the old stream keeps its era and
// its unread tail is drained; the time between the streams is a gap no restore crosses,
// also once the new stream is captured; a snapshot after the change opens a new window.
func TestWindow_StreamReplacedWithAnUnreadTail(t *testing.T) {
	w := newWorld(t, true)
	for i := range 4 {
		w.put("root", key(i), i)
		w.tick(1)
	}
	c := w.startCapture(nil)
	w.tick(2)
	w.snapshot(2 * time.Second)
	w.put("root", key(1), 11)
	w.tick(70)
	w.waitCovered(w.clock.Now().Add(-65 * time.Second))
	c.stop(t)
	// The tail: written while nobody captures, still in the old stream.
	var tail time.Time
	for i := range 4 {
		w.put("root", key(i), 40+i)
		tail = w.clock.Now().Truncate(time.Second)
		w.tick(2)
	}
	if err := w.fake.DisableStream(w.table); err != nil {
		t.Fatal(err)
	}
	w.tick(5)
	w.put("", key(2), 50) // in no stream
	w.del("", key(3))
	w.tick(5)
	arn, err := w.fake.EnableStream(w.table, "NEW_AND_OLD_IMAGES")
	if err != nil {
		t.Fatal(err)
	}
	w.stream = arn
	w.addShard("root-b", "")
	w.tick(2)
	w.put("root-b", key(0), 60)
	w.tick(1)
	w.check() // before the new capture: nothing after the old coverage
	c = w.startCapture(nil)
	w.tick(70)
	// The old era now reaches the tail's last record (the drained old shard is read to
	// its end; its era ends where its open coverage stopped).
	w.waitCovered(tail.Add(-time.Second))
	ws := w.check()
	if len(ws) != 1 {
		t.Fatalf("windows %v, want one window in the old era", ws)
	}
	w.snapshot(2 * time.Second)
	w.put("root-b", key(0), 61)
	w.put("root-b", key(5), 62)
	w.tick(70)
	w.waitCovered(w.clock.Now().Add(-65 * time.Second))
	if ws := w.check(); len(ws) != 2 {
		t.Fatalf("windows %v, want the old era's and the new snapshot's", ws)
	}
	w.compactAtEnd()
	c.stop(t)
	w.check()
	t.Logf("%d seconds restored equal to the model, %d refused", w.checked, w.refused)
}

// A table snapshotted before it had a stream: the snapshot opens no window with the
// stream's segments (writes between it and the stream are in no stream), it restores
// alone at its own time, and a snapshot after the stream opens a window.
func TestWindow_StreamEnabledAfterASnapshot(t *testing.T) {
	w := newWorld(t, false)
	for i := range 5 {
		w.put("", key(i), i)
		w.tick(1)
	}
	s0 := w.snapshot(2 * time.Second)
	w.tick(3)
	w.put("", key(1), 11) // after the snapshot, before the stream: in no stream
	w.del("", key(2))
	w.tick(3)
	arn, err := w.fake.EnableStream(w.table, "NEW_AND_OLD_IMAGES")
	if err != nil {
		t.Fatal(err)
	}
	w.stream = arn
	w.addShard("root", "")
	w.tick(1)
	w.put("root", key(3), 33)
	w.tick(1)
	c := w.startCapture(nil)
	w.tick(70)
	w.waitListed()
	if ws := w.check(); len(ws) != 0 {
		t.Fatalf("windows %v: the stream-less snapshot must open none", ws)
	}
	p, err := catalog.SnapshotPlan(w.listing(), s0.SnapshotID)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := w.restore(p), w.state(s0.FinishedAt); !sameItems(got, want) {
		t.Fatalf("the snapshot alone differs from the table at its finish:\n%s", diffItems(got, want))
	}
	st := catalog.Summarize(w.listing())
	if len(st.Snapshots) != 1 || !st.Snapshots[0].Alone {
		t.Fatalf("status snapshots %+v: want the stream-less one marked to restore alone", st.Snapshots)
	}
	w.snapshot(2 * time.Second)
	w.put("root", key(4), 44)
	w.tick(70)
	w.waitCovered(w.clock.Now().Add(-65 * time.Second))
	w.compactAtEnd()
	c.stop(t)
	w.check()
	t.Logf("%d seconds restored equal to the model, %d refused", w.checked, w.refused)
}

// Capture started with --start latest: the window opens only after the start, and a
// split's children, which appear later, are read from their start: every second of the
// window equals the model, the children's first records included.
func TestWindow_StartLatestThenASplit(t *testing.T) {
	w := newWorld(t, true)
	for i := range 3 {
		w.put("root", key(i), i) // before the start: never read
		w.tick(1)
	}
	w.tick(120)
	c := w.startCapture(func(cfg *replicator.Config) { cfg.StartLatest = true })
	w.waitListed()
	// Read from LATEST, the shard is covered from a stamp margin after its first answer,
	// and a snapshot's replay starts a stamp margin before it: two margins later.
	w.tick(125)
	w.snapshot(2 * time.Second)
	w.put("root", key(0), 10)
	w.tick(2)
	w.split("root", "left", "right")
	w.put("left", key(1), 20) // at once, in the same second as the split
	w.put("right", key(2), 30)
	w.tick(1)
	w.put("right", key(2), 31)
	w.tick(70)
	w.waitCovered(w.clock.Now().Add(-65 * time.Second))
	w.compactAtEnd()
	c.stop(t)
	w.check()
	t.Logf("%d seconds restored equal to the model, %d refused", w.checked, w.refused)
}

// A quiet shard (no record stored, so no sequence number) and capture down for more than
// the retention, while a record was written and trimmed: continuity cannot be proven, so
// no restore crosses the downtime; a snapshot after it opens a new window.
func TestWindow_RestartPastTheRetentionOnAQuietShard(t *testing.T) {
	w := newWorld(t, true)
	c := w.startCapture(nil)
	w.tick(2)
	w.snapshot(2 * time.Second) // of an empty table
	w.tick(70)
	w.waitCovered(w.clock.Now().Add(-65 * time.Second))
	c.stop(t)
	// Capture is down for 25 hours; a record is written and expires meanwhile.
	w.clock.advance(2 * time.Hour)
	w.put("root", key(0), 1)
	lost := w.fake.Records(shardID("root"))
	if err := w.fake.Trim(shardID("root"), lost[len(lost)-1]); err != nil {
		t.Fatal(err)
	}
	w.clock.advance(23 * time.Hour)
	c = w.startCapture(nil)
	w.waitListed()
	w.tick(70)
	st := catalog.Summarize(w.listing())
	if len(st.Gaps) != 1 || st.Gaps[0].Cause != ledger.CauseContinuity {
		t.Fatalf("gaps %+v: want the continuity gap of the quiet shard", st.Gaps)
	}
	w.check()
	w.snapshot(2 * time.Second)
	w.put("root", key(1), 2)
	w.tick(70)
	w.waitCovered(w.clock.Now().Add(-65 * time.Second))
	c.stop(t)
	w.check()
	t.Logf("%d seconds restored equal to the model, %d refused", w.checked, w.refused)
}
