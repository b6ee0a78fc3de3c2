package schedule

import (
	"context"

	"github.com/ddbtape/ddbtape/retention"
)

// RetentionJob deletes what no restore point inside the config's Retention needs
// (package retention), every retentionInterval, and reports the new window with
// Recorder.RestorableWindow.
func (s *Table) RetentionJob() Job { return Job{Name: "retention " + s.cfg.Name, Run: s.runRetention} }

func (s *Table) runRetention(ctx context.Context) error {
	every := retentionInterval(s.cfg.Retention)
	// A base snapshot's parts are read once per process, not every run (see retention).
	verified := &retention.Verified{}
	for {
		res, err := retention.Run(ctx, s.cat, retention.Config{Retention: s.cfg.Retention, Verified: verified, Logger: s.deps.Logger, Now: s.deps.Now})
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
