package schedule

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/ddbtape/ddbtape/catalog"
	"github.com/ddbtape/ddbtape/metrics"
	"github.com/ddbtape/ddbtape/verify"
)

// Scheduled verification in `ddbtape run`: every verify.every, the backup at the end of
// its restorable window (the most recent moment it can restore) is compared with a live
// Scan while capture goes on (package verify). Each run's report replaces
// <table>/verify.json and is reported as metrics; a restarted process reads the stored
// report, so the schedule and the metrics go on from the last run. A run that could not
// finish is tried again after 30 s, doubling up to 30 min; it never stops capture. A run
// that found mismatches is not repeated sooner: its report and ddbtape_verify_mismatches
// stay until the next run.

// VerifyJob runs the verifications the config's Verify schedules.
func (s *Table) VerifyJob() Job {
	return Job{Name: "verification " + s.cfg.Name, Run: s.runVerifications}
}

// verifyDue is when the next verification is due: at once without a report, every after
// the last run's start, and after a growing wait (retryAfter) once a run ended in an
// error, failures of them in a row (at least one is assumed after a restart). It does no
// I/O.
func verifyDue(every time.Duration, last *verify.Report, failures int) time.Time {
	switch {
	case last == nil:
		return time.Time{}
	case last.Result == verify.Error:
		return last.FinishedAt.Add(retryAfter(max(failures, 1)))
	}
	return last.StartedAt.Add(every)
}

// nextReport completes the report of a run for the destination: a run that passed is the
// last pass, otherwise the previous one stays; a run that did not finish leaves the next
// sampled run where it was.
func nextReport(rep verify.Report, last *verify.Report) verify.Report {
	if last == nil {
		return rep
	}
	if rep.LastPassAt.IsZero() {
		rep.LastPassAt = last.LastPassAt
	}
	if rep.Result == verify.Error {
		rep.NextSegment = last.NextSegment
	}
	return rep
}

// verificationMetrics is what the metrics say of a report.
func verificationMetrics(r verify.Report) metrics.Verification {
	return metrics.Verification{Result: r.Result, Compared: r.Compared, Mismatches: r.Mismatches, Expected: r.Expected, LastPass: r.LastPassAt}
}

func (s *Table) runVerifications(ctx context.Context) error {
	var last *verify.Report
	if !s.look(ctx, "verification: cannot read the last report", func(ctx context.Context) error {
		r, ok, err := verify.ReadReport(ctx, s.deps.Bucket, s.cfg.Name)
		if err == nil && ok {
			last = &r
			s.rec.VerifyKnown(s.cfg.Name, verificationMetrics(r))
		}
		return err
	}) {
		return nil
	}
	failures, waiting := 0, false
	for {
		if ready, ok := s.waitDue(ctx, verifyDue(s.cfg.Verify.Every, last, failures), 0); !ok {
			return nil
		} else if !ready {
			continue
		}
		cfg := verify.Config{
			Sample: s.cfg.Verify.Sample, MaxRCU: s.cfg.Verify.MaxRCU, RecheckWithin: s.cfg.Verify.RecheckWithin,
			TempDir: s.deps.SpoolDir, Logger: s.log, Now: s.deps.Now,
		}
		if last != nil {
			cfg.StartSegment = last.NextSegment
		}
		rep, err := verify.Run(ctx, s.cat, s.deps.DB, cfg)
		switch {
		case ctx.Err() != nil:
			return nil
		case errors.Is(err, catalog.ErrNoCoverage):
			// Nothing restorable yet (no snapshot, capture not caught up, a gap waiting
			// for a snapshot): nothing to verify, and not a failure.
			level := slog.LevelDebug
			if !waiting {
				level = slog.LevelInfo
			}
			waiting = true
			s.log.Log(ctx, level, "verification waits until something is restorable", "reason", err)
			if !sleep(ctx, min(s.cfg.Verify.Every, recheckEvery)) {
				return nil
			}
			continue
		}
		waiting = false
		rep = nextReport(rep, last)
		if werr := verify.WriteReport(ctx, s.deps.Bucket, rep); werr != nil {
			s.log.Error("verification: cannot store the report; the metrics still say how it went", "err", werr)
		}
		s.rec.VerifyFinished(s.cfg.Name, verificationMetrics(rep))
		last = &rep
		attrs := []any{"at", rep.At, "snapshot", rep.SnapshotID, "compared", rep.Compared, "expected_differences", rep.Expected,
			"mismatches", rep.Mismatches, "took", rep.FinishedAt.Sub(rep.StartedAt).Round(time.Millisecond)}
		switch rep.Result {
		case verify.Pass:
			failures = 0
			s.log.Info("verification passed: the backup restores what the table holds", attrs...)
		case verify.Fail:
			failures = 0
			s.log.Error("verification FAILED: items differ that no later change explains; the backup does not hold what the table did (see verify.json in the destination, then take a new snapshot)",
				append(attrs, "examples", rep.Examples)...)
		default:
			failures++
			s.log.Error("verification could not finish; it is tried again", "err", err, "retry_in", retryAfter(failures))
		}
	}
}
