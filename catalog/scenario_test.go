package catalog_test

import (
	"testing"
	"time"
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
