package schedule

import (
	"fmt"
	"time"

	"github.com/ddbtape/ddbtape/catalog"
	"github.com/ddbtape/ddbtape/config"
	"github.com/ddbtape/ddbtape/writer"
)

// When each job is due: pure functions of the destination's state and the clock.

// firstRetry is the wait after a failed snapshot, compaction or verification; it doubles
// up to maxRetry.
const (
	firstRetry = 30 * time.Second
	maxRetry   = 30 * time.Minute
)

// snapshotDue says when the next scheduled snapshot is due and why; ok is false when none
// will be (Every is 0 and the table has a complete snapshot). It does no I/O.
func snapshotDue(cfg config.Snapshot, l catalog.Listing, now time.Time) (due time.Time, reason string, ok bool) {
	var newest, newestScan *writer.Manifest
	for _, s := range l.Snapshots {
		m := s.Manifest
		if m == nil {
			continue
		}
		if newest == nil || m.FinishedAt.After(newest.FinishedAt) {
			newest = m
		}
		if m.Method == "scan" && (newestScan == nil || m.StartedAt.After(newestScan.StartedAt)) {
			newestScan = m
		}
	}
	switch {
	case newest == nil && cfg.AtStartIfMissing:
		return now, "the table has no complete snapshot", true
	case cfg.Every <= 0:
		return time.Time{}, "", false
	case newest == nil || newestScan == nil:
		return now, "the table has no complete scan snapshot", true
	}
	// A gap after the newest snapshot's replay start ends every window there: restores
	// after it need a new snapshot, so waiting for the schedule would leave them failing.
	r := newest.StartedAt.Add(-catalog.StampMargin)
	for _, g := range l.Ledger.Gaps {
		if !g.To.Before(r) {
			return now, fmt.Sprintf("a gap in shard %s (to %s) ends the restorable window", g.ShardID, g.To.Format(time.RFC3339)), true
		}
	}
	return newestScan.StartedAt.Add(cfg.Every), "scheduled", true
}

// compactionDue is when the next compaction is due: Every after the newest complete
// snapshot's finish; ok is false while there is none to start from.
func compactionDue(every time.Duration, snaps []catalog.Snapshot) (time.Time, bool) {
	var newest time.Time
	for _, s := range snaps {
		if s.Manifest != nil && s.Manifest.FinishedAt.After(newest) {
			newest = s.Manifest.FinishedAt
		}
	}
	if newest.IsZero() {
		return time.Time{}, false
	}
	return newest.Add(every), true
}

// retentionInterval is how often retention runs: a 24th of the retention, between a
// second and an hour (hourly for any retention of a day or more).
func retentionInterval(d time.Duration) time.Duration {
	return min(max(d/24, time.Second), time.Hour)
}

// retryAfter is the wait after n consecutive failures (n >= 1).
func retryAfter(n int) time.Duration {
	d := firstRetry
	for i := 1; i < n && d < maxRetry; i++ {
		d *= 2
	}
	return min(d, maxRetry)
}

// newestScanFinished is when the newest complete scan snapshot finished; zero when there
// is none. Its age is what snapshot.every promises to bound (compactions do not count:
// only a scan reads the table again).
func newestScanFinished(snaps []catalog.Snapshot) time.Time {
	var newest time.Time
	for _, sn := range snaps {
		if m := sn.Manifest; m != nil && m.Method == "scan" && m.FinishedAt.After(newest) {
			newest = m.FinishedAt
		}
	}
	return newest
}
