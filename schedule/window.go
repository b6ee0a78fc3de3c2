package schedule

import (
	"context"
	"time"

	"github.com/ddbtape/ddbtape/catalog"
)

// WindowJob keeps the restorable-window gauges current: the end moves with every
// checkpoint, so it is recomputed about once per roll.age (between 1 s and 30 s).
func (s *Table) WindowJob() Job {
	return Job{Name: "window " + s.cfg.Name, Run: func(ctx context.Context) error {
		every := min(max(s.cfg.Roll.Age, time.Second), 30*time.Second)
		for {
			s.reportWindow(ctx)
			if !sleep(ctx, every) {
				return nil
			}
		}
	}}
}

// reportWindow sets the restorable-window gauges from the snapshots and the checkpoint.
// A failure to read them leaves the gauges as they were.
func (s *Table) reportWindow(ctx context.Context) {
	l, err := s.cat.Coverage(ctx)
	if err != nil {
		if ctx.Err() == nil {
			s.log.Debug("restorable window: cannot read the destination", "err", err)
		}
		return
	}
	s.rec.NewestSnapshot(s.cfg.Name, newestScanFinished(l.Snapshots))
	ws := catalog.Windows(l)
	if len(ws) == 0 {
		s.rec.RestorableWindow(s.cfg.Name, time.Time{}, time.Time{})
		return
	}
	s.rec.RestorableWindow(s.cfg.Name, ws[0].From, ws[len(ws)-1].Until)
}
