package replicator

import (
	"testing"
	"time"
)

func TestProgressOf_TheLeastReadShardSetsHowFarTheCaptureIsRead(t *testing.T) {
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	worker := func(coveredAgo time.Duration) *shardWorker {
		w := &shardWorker{}
		if coveredAgo >= 0 {
			w.covered.Store(now.Add(-coveredAgo).UnixNano())
		}
		return w
	}
	p := progressOf(now, map[string]*shardWorker{
		"busy":   worker(stampMargin),                  // caught up a moment ago
		"slow":   worker(stampMargin + 10*time.Minute), // read through ten minutes back
		"unread": worker(-1),                           // never caught up yet
	})
	if p.reading != 3 || p.unread != 1 {
		t.Errorf("reading %d, not caught up %d; want 3 and 1", p.reading, p.unread)
	}
	if want := now.Add(-stampMargin - 10*time.Minute); !p.readThrough.Equal(want) || p.behind != 10*time.Minute {
		t.Errorf("read through %v, behind %v; want %v and 10m", p.readThrough, p.behind, want)
	}
	if p := progressOf(now, nil); p.reading != 0 || !p.readThrough.IsZero() || p.behind != 0 {
		t.Errorf("no worker: %+v", p)
	}
}
