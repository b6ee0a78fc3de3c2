package schedule

import (
	"context"
	"errors"
	"log/slog"

	"github.com/ddbtape/ddbtape/catalog"
	"github.com/ddbtape/ddbtape/compact"
)

// CompactionJob builds a new base snapshot from the newest one and the segments after it
// (package compact) once the newest is Compaction.Every old, reported with
// Recorder.CompactionFinished.
func (s *Table) CompactionJob() Job {
	return Job{Name: "compaction " + s.cfg.Name, Run: s.runCompactions}
}

func (s *Table) runCompactions(ctx context.Context) error {
	failures, skipping := 0, false
	for {
		var snaps []catalog.Snapshot
		if !s.look(ctx, "compaction: cannot list snapshots", func(ctx context.Context) (err error) {
			snaps, err = s.cat.Snapshots(ctx)
			return err
		}) {
			return nil
		}
		due, ok := compactionDue(s.cfg.Compaction.Every, snaps)
		if !ok {
			// No snapshot to start from yet: the snapshot job is probably taking one.
			if !sleep(ctx, min(s.cfg.Compaction.Every, recheckEvery)) {
				return nil
			}
			continue
		}
		if ready, ok := s.waitDue(ctx, due, failures); !ok {
			return nil
		} else if !ready {
			continue
		}
		start := s.deps.Now()
		res, err := compact.Run(ctx, s.cat, compact.Config{SpoolDir: s.deps.SpoolDir, Logger: s.deps.Logger})
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
			if !sleep(ctx, min(s.cfg.Compaction.Every, recheckEvery)) {
				return nil
			}
			continue
		}
		skipping = false
		took := s.deps.Now().Sub(start)
		s.rec.CompactionFinished(s.cfg.Name, took, err)
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
