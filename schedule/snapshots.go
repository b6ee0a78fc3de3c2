package schedule

import (
	"context"
	"errors"

	"github.com/ddbtape/ddbtape/catalog"
	"github.com/ddbtape/ddbtape/retry"
	"github.com/ddbtape/ddbtape/snapshot"
	"github.com/ddbtape/ddbtape/writer"
)

// SnapshotJob takes base snapshots for the config's snapshot settings: at start when the
// table has none and AtStartIfMissing is set, then every Every after the newest scan
// started, and at once when a gap broke the window after the newest snapshot (with Every
// set). Each is reported with Recorder.SnapshotFinished.
func (s *Table) SnapshotJob() Job { return Job{Name: "snapshots " + s.cfg.Name, Run: s.runSnapshots} }

func (s *Table) runSnapshots(ctx context.Context) error {
	failures := 0
	for {
		var l catalog.Listing
		if !s.look(ctx, "scheduled snapshot: cannot read the destination", func(ctx context.Context) (err error) {
			l, err = s.cat.Coverage(ctx)
			return err
		}) {
			return nil
		}
		due, reason, ok := snapshotDue(s.cfg.Snapshot, l, s.deps.Now())
		if !ok {
			return nil
		}
		if ready, ok := s.waitDue(ctx, due, failures); !ok {
			return nil
		} else if !ready {
			continue
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

func (s *Table) takeSnapshot(ctx context.Context, reason string) error {
	start := s.deps.Now()
	s.log.Info("snapshot started", "reason", reason)
	j, err := snapshot.Prepare(ctx, s.deps.DB, s.deps.Bucket, snapshot.Config{
		Table:      s.cfg.Name,
		Segments:   s.cfg.Snapshot.Segments,
		SpoolDir:   s.deps.SpoolDir,
		RetryBound: s.deps.RetryBound,
		Logger:     s.deps.Logger,
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
	took := s.deps.Now().Sub(start)
	s.rec.SnapshotFinished(s.cfg.Name, took, err)
	if errors.Is(err, retry.ErrGaveUp) {
		s.rec.RetriesExhausted(s.cfg.Name, "Scan")
	}
	if err != nil {
		return err
	}
	s.log.Info("snapshot complete", "snapshot", m.SnapshotID, "items", m.ItemCount, "parts", len(m.Parts), "took", took)
	s.reportWindow(ctx)
	return nil
}
