package schedule

import (
	"strings"
	"testing"
	"time"

	"github.com/ddbtape/ddbtape/catalog"
	"github.com/ddbtape/ddbtape/checkpoint"
	"github.com/ddbtape/ddbtape/config"
	"github.com/ddbtape/ddbtape/writer"
)

var schedT0 = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)

func hm(h, m int) time.Time {
	return schedT0.Add(time.Duration(h)*time.Hour + time.Duration(m)*time.Minute)
}

func schedSnap(id, method string, started, finished time.Time) catalog.Snapshot {
	return catalog.Snapshot{ID: id, Manifest: &writer.Manifest{SnapshotID: id, Method: method, StartedAt: started, FinishedAt: finished}}
}

func TestSnapshotDue_FollowsTheNewestScanAndTakesOneAtOnceWhenNeeded(t *testing.T) {
	now := hm(30, 0)
	scan := schedSnap("s", "scan", hm(10, 0), hm(10, 20))
	compacted := schedSnap("c", "compaction", hm(20, 0), hm(20, 0))
	gapAfter := checkpoint.Table{Gaps: []checkpoint.Gap{{ShardID: "shard-1", DetectedAt: hm(21, 0)}}}
	gapBefore := checkpoint.Table{Gaps: []checkpoint.Gap{{ShardID: "shard-1", DetectedAt: hm(5, 0)}}}
	cases := []struct {
		name    string
		cfg     config.Snapshot
		snaps   []catalog.Snapshot
		cp      checkpoint.Table
		wantOK  bool
		wantDue time.Time
		reason  string
	}{
		{"none yet, at start", config.Snapshot{AtStartIfMissing: true}, nil, checkpoint.Table{}, true, now, "no complete snapshot"},
		{"none yet, only an incomplete one", config.Snapshot{AtStartIfMissing: true}, []catalog.Snapshot{{ID: "running"}}, checkpoint.Table{}, true, now, "no complete snapshot"},
		{"one exists, no schedule", config.Snapshot{AtStartIfMissing: true}, []catalog.Snapshot{scan}, checkpoint.Table{}, false, time.Time{}, ""},
		{"none, nothing asked", config.Snapshot{}, nil, checkpoint.Table{}, false, time.Time{}, ""},
		{"scheduled after the newest scan's start", config.Snapshot{Every: 24 * time.Hour}, []catalog.Snapshot{scan, compacted}, checkpoint.Table{}, true, hm(34, 0), "scheduled"},
		{"overdue", config.Snapshot{Every: 6 * time.Hour}, []catalog.Snapshot{scan}, checkpoint.Table{}, true, hm(16, 0), "scheduled"},
		{"only compactions left", config.Snapshot{Every: 24 * time.Hour}, []catalog.Snapshot{compacted}, checkpoint.Table{}, true, now, "no complete scan"},
		{"a gap after the newest snapshot", config.Snapshot{Every: 24 * time.Hour}, []catalog.Snapshot{scan, compacted}, gapAfter, true, now, "gap in shard shard-1"},
		{"a gap before it is history", config.Snapshot{Every: 24 * time.Hour}, []catalog.Snapshot{scan, compacted}, gapBefore, true, hm(34, 0), "scheduled"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			due, reason, ok := snapshotDue(c.cfg, catalog.Listing{Snapshots: c.snaps, Ledger: catalog.FromCheckpoint(c.cp)}, now)
			if ok != c.wantOK || !due.Equal(c.wantDue) || !strings.Contains(reason, c.reason) {
				t.Errorf("snapshotDue = %s %q %v, want %s %q %v", due, reason, ok, c.wantDue, c.reason, c.wantOK)
			}
		})
	}
}

func TestCompactionDue_IsEveryAfterTheNewestSnapshotsFinish(t *testing.T) {
	if _, ok := compactionDue(time.Hour, []catalog.Snapshot{{ID: "incomplete"}}); ok {
		t.Error("due without a complete snapshot to start from")
	}
	snaps := []catalog.Snapshot{schedSnap("s", "scan", hm(1, 0), hm(1, 30)), schedSnap("c", "compaction", hm(1, 10), hm(1, 10)), {ID: "running"}}
	if due, ok := compactionDue(6*time.Hour, snaps); !ok || !due.Equal(hm(7, 30)) {
		t.Errorf("compactionDue = %s %v, want 07:30", due, ok)
	}
}

func TestRetentionIntervalAndRetryAfter(t *testing.T) {
	for _, c := range []struct{ in, want time.Duration }{
		{90 * 24 * time.Hour, time.Hour}, {24 * time.Hour, time.Hour}, {12 * time.Hour, 30 * time.Minute}, {20 * time.Second, time.Second},
	} {
		if got := retentionInterval(c.in); got != c.want {
			t.Errorf("retentionInterval(%s) = %s, want %s", c.in, got, c.want)
		}
	}
	for n, want := range map[int]time.Duration{1: 30 * time.Second, 2: time.Minute, 4: 4 * time.Minute, 7: 30 * time.Minute, 50: 30 * time.Minute} {
		if got := retryAfter(n); got != want {
			t.Errorf("retryAfter(%d) = %s, want %s", n, got, want)
		}
	}
}

func TestNewestScanFinished_IgnoresCompactionsAndIncompleteSnapshots(t *testing.T) {
	older := schedSnap("a", "scan", hm(1, 0), hm(1, 10))
	newer := schedSnap("b", "scan", hm(5, 0), hm(5, 30))
	compacted := schedSnap("c", "compaction", hm(9, 0), hm(9, 0))
	if got := newestScanFinished([]catalog.Snapshot{newer, older, compacted, {ID: "running"}}); !got.Equal(hm(5, 30)) {
		t.Errorf("newest scan finished %s, want %s", got, hm(5, 30))
	}
	if got := newestScanFinished([]catalog.Snapshot{compacted, {ID: "running"}}); !got.IsZero() {
		t.Errorf("without a complete scan: %s, want zero (the age gauge then reads +Inf)", got)
	}
}
