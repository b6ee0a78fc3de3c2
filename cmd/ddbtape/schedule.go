package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/ddbtape/ddbtape/catalog"
	"github.com/ddbtape/ddbtape/checkpoint"
	"github.com/ddbtape/ddbtape/compact"
	"github.com/ddbtape/ddbtape/config"
	"github.com/ddbtape/ddbtape/metrics"
	"github.com/ddbtape/ddbtape/retention"
	"github.com/ddbtape/ddbtape/retry"
	"github.com/ddbtape/ddbtape/snapshot"
	"github.com/ddbtape/ddbtape/writer"
)

// The scheduled work of `ddbtape run` beside capture: base snapshots, compaction,
// retention, and the restorable-window gauges. Schedules are computed from what the
// destination holds (the newest snapshot's times), not from when the process started, so
// a restart neither repeats a snapshot nor postpones one. A run that fails is logged,
// counted in the metrics and tried again later; it never stops capture. One `ddbtape run`
// per table is assumed (as for capture with checkpoints beside the data).

const (
	// recheckEvery bounds how long a job sleeps before it looks at the destination again
	// (someone may have taken a snapshot, a gap may have appeared).
	recheckEvery = time.Minute
	// firstRetry is the wait after a failed snapshot or compaction; it doubles up to
	// maxRetry.
	firstRetry = 30 * time.Second
	maxRetry   = 30 * time.Minute
)

// tableSchedule is what the scheduled jobs of one table share.
type tableSchedule struct {
	d           *runDeps
	t           config.Table
	checkpoints checkpoint.Store
	rec         metrics.Recorder
	log         *slog.Logger
	cat         *catalog.Catalog
	now         func() time.Time
}

func newTableSchedule(d *runDeps, t config.Table, checkpoints checkpoint.Store, rec metrics.Recorder) *tableSchedule {
	return &tableSchedule{
		d: d, t: t, checkpoints: checkpoints, rec: rec,
		log: d.log.With("table", t.Name),
		cat: catalog.New(d.bucket, t.Name, checkpoints),
		now: time.Now,
	}
}

// snapshotJob takes base snapshots for t.Snapshot: at start when the table has none and
// AtStartIfMissing is set, then every t.Snapshot.Every after the newest scan started, and
// at once when a gap broke the window after the newest snapshot (with Every set). Each is
// reported with rec.SnapshotFinished.
func snapshotJob(s *tableSchedule) (job, bool) {
	return job{name: "snapshots " + s.t.Name, run: s.runSnapshots}, true
}

// compactionJob builds a new base snapshot from the newest one and the segments after it
// (package compact) once the newest is t.Compaction.Every old, reported with
// rec.CompactionFinished.
func compactionJob(s *tableSchedule) (job, bool) {
	return job{name: "compaction " + s.t.Name, run: s.runCompactions}, true
}

// retentionJob deletes what no restore point inside t.Retention needs (package
// retention), every retentionInterval, and reports the new window with
// rec.RestorableWindow.
func retentionJob(s *tableSchedule) (job, bool) {
	return job{name: "retention " + s.t.Name, run: s.runRetention}, true
}

// windowJob keeps the restorable-window gauges current: the end moves with every
// checkpoint, so it is recomputed about once per roll.age (between 1 s and 30 s).
func windowJob(s *tableSchedule) job {
	return job{name: "window " + s.t.Name, run: func(ctx context.Context) error {
		every := min(max(s.t.Roll.Age, time.Second), 30*time.Second)
		for {
			s.reportWindow(ctx)
			if !sleep(ctx, every) {
				return nil
			}
		}
	}}
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

// sleep waits d or until ctx ends; false when ctx ended.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

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

func (s *tableSchedule) runSnapshots(ctx context.Context) error {
	failures := 0
	for {
		l, err := s.cat.Coverage(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			s.log.Warn("scheduled snapshot: cannot read the destination; trying again", "err", err)
			if !sleep(ctx, recheckEvery) {
				return nil
			}
			continue
		}
		due, reason, ok := snapshotDue(s.t.Snapshot, l, s.now())
		if !ok {
			return nil
		}
		wait := due.Sub(s.now())
		if failures > 0 {
			wait = max(wait, retryAfter(failures))
		}
		if wait > 0 {
			if !sleep(ctx, min(wait, recheckEvery)) {
				return nil
			}
			if wait > recheckEvery {
				continue
			}
		}
		if err := s.takeSnapshot(ctx, reason); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			failures++
			s.log.Error("snapshot failed; capture goes on and the snapshot is tried again", "err", err, "retry_in", retryAfter(failures))
			continue
		}
		failures = 0
	}
}

func (s *tableSchedule) takeSnapshot(ctx context.Context, reason string) error {
	start := s.now()
	s.log.Info("snapshot started", "reason", reason)
	j, err := snapshot.Prepare(ctx, s.d.db, s.d.bucket, snapshot.Config{
		Table:      s.t.Name,
		Segments:   s.t.Snapshot.Segments,
		SpoolDir:   s.d.cfg.SpoolDir,
		RetryBound: s.d.cfg.RetryBound,
		Logger:     s.d.log,
	})
	var m writer.Manifest
	if err == nil {
		m, err = j.Run(ctx, nil)
	}
	if ctx.Err() != nil {
		// A stop, not a failure: the snapshot stays incomplete and is never used.
		s.log.Info("snapshot interrupted by the stop; it stays incomplete")
		return ctx.Err()
	}
	took := s.now().Sub(start)
	s.rec.SnapshotFinished(s.t.Name, took, err)
	if errors.Is(err, retry.ErrGaveUp) {
		s.rec.RetriesExhausted(s.t.Name, "Scan")
	}
	if err != nil {
		return err
	}
	s.log.Info("snapshot complete", "snapshot", m.SnapshotID, "items", m.ItemCount, "parts", len(m.Parts), "took", took)
	s.reportWindow(ctx)
	return nil
}

func (s *tableSchedule) runCompactions(ctx context.Context) error {
	failures, skipping := 0, false
	for {
		snaps, err := s.cat.Snapshots(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			s.log.Warn("compaction: cannot list snapshots; trying again", "err", err)
			if !sleep(ctx, recheckEvery) {
				return nil
			}
			continue
		}
		due, ok := compactionDue(s.t.Compaction.Every, snaps)
		if !ok {
			// No snapshot to start from yet: the snapshot job is probably taking one.
			if !sleep(ctx, min(s.t.Compaction.Every, recheckEvery)) {
				return nil
			}
			continue
		}
		wait := due.Sub(s.now())
		if failures > 0 {
			wait = max(wait, retryAfter(failures))
		}
		if wait > 0 {
			if !sleep(ctx, min(wait, recheckEvery)) {
				return nil
			}
			if wait > recheckEvery {
				continue
			}
		}
		start := s.now()
		res, err := compact.Run(ctx, s.cat, compact.Config{SpoolDir: s.d.cfg.SpoolDir, Logger: s.d.log})
		switch {
		case ctx.Err() != nil:
			return nil
		case errors.Is(err, compact.ErrUpToDate), errors.Is(err, catalog.ErrNoCoverage):
			// Nothing new is restorable yet (capture has not caught up, or a gap waits
			// for a snapshot): not a failure, so no metric; said once, then looked at
			// again a bit later.
			level := slog.LevelDebug
			if !skipping && errors.Is(err, catalog.ErrNoCoverage) {
				level = slog.LevelInfo
			}
			skipping = true
			s.log.Log(ctx, level, "compaction skipped until more is restorable", "reason", err)
			if !sleep(ctx, min(s.t.Compaction.Every, recheckEvery)) {
				return nil
			}
			continue
		}
		skipping = false
		took := s.now().Sub(start)
		s.rec.CompactionFinished(s.t.Name, took, err)
		if err != nil {
			failures++
			s.log.Error("compaction failed; it is tried again", "err", err, "retry_in", retryAfter(failures))
			continue
		}
		failures = 0
		s.log.Info("compaction complete", "snapshot", res.Manifest.SnapshotID, "at", res.Manifest.FinishedAt, "base", res.Base,
			"items", res.Manifest.ItemCount, "changes_replayed", res.Stats.Replayed, "took", took)
		s.reportWindow(ctx)
	}
}

func (s *tableSchedule) runRetention(ctx context.Context) error {
	every := retentionInterval(s.t.Retention)
	// A base snapshot's parts are read once per process, not every run (see retention).
	verified := &retention.Verified{}
	for {
		res, err := retention.Run(ctx, s.cat, retention.Config{Retention: s.t.Retention, Verified: verified, Logger: s.d.log, Now: s.now})
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			s.log.Error("retention failed; nothing it had not deleted is lost, and it runs again", "err", err, "retry_in", every)
		case res.Deleted > 0:
			s.reportWindow(ctx)
		}
		if !sleep(ctx, every) {
			return nil
		}
	}
}

// reportWindow sets the restorable-window gauges from the snapshots and the checkpoint.
// A failure to read them leaves the gauges as they were.
func (s *tableSchedule) reportWindow(ctx context.Context) {
	l, err := s.cat.Coverage(ctx)
	if err != nil {
		if ctx.Err() == nil {
			s.log.Debug("restorable window: cannot read the destination", "err", err)
		}
		return
	}
	s.rec.NewestSnapshot(s.t.Name, newestScanFinished(l.Snapshots))
	ws := catalog.Windows(l)
	if len(ws) == 0 {
		s.rec.RestorableWindow(s.t.Name, time.Time{}, time.Time{})
		return
	}
	s.rec.RestorableWindow(s.t.Name, ws[0].From, ws[len(ws)-1].Until)
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
