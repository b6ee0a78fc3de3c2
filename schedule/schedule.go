// Package schedule runs the scheduled work of `ddbtape run` beside capture, per table:
// base snapshots, compactions, retention, verification, and the restorable-window
// gauges. When each is due is decided by pure functions (due.go) from what the
// destination holds, read through the catalog (the newest snapshot's times, the last
// verification's report), not from when the process started: a restart neither repeats
// a job nor postpones one. A run that fails is logged, counted in the metrics and tried
// again later (after 30 s, doubling up to 30 min); it never stops capture. One `ddbtape
// run` per table is assumed (as for capture with checkpoints beside the data).
package schedule

import (
	"context"
	"log/slog"
	"time"

	"github.com/ddbtape/ddbtape/catalog"
	"github.com/ddbtape/ddbtape/checkpoint"
	"github.com/ddbtape/ddbtape/config"
	"github.com/ddbtape/ddbtape/metrics"
	"github.com/ddbtape/ddbtape/retry"
	"github.com/ddbtape/ddbtape/snapshot"
	"github.com/ddbtape/ddbtape/storage"
	"github.com/ddbtape/ddbtape/verify"
)

// recheckEvery bounds how long a job sleeps before it looks at the destination again
// (someone may have taken a snapshot, a gap may have appeared).
const recheckEvery = time.Minute

// API is what the jobs ask of DynamoDB: a snapshot's and a verification's Scan and the
// table's description.
type API interface {
	snapshot.API
	verify.API
}

// Deps are what the jobs of every table share.
type Deps struct {
	DB     API
	Bucket storage.Bucket
	// SpoolDir holds the files a snapshot, a compaction or a verification writes before
	// they are stored ("": the system temporary directory).
	SpoolDir string
	// RetryBound is how long a snapshot's page is retried (snapshot.Config.RetryBound).
	RetryBound time.Duration
	// Maintenance runs the jobs that delete (compaction and retention): off for a
	// process whose role may not delete (run's maintenance setting).
	Maintenance bool
	Logger      *slog.Logger
	// Now is the clock (default time.Now); tests set it.
	Now func() time.Time
}

// Job is work that runs until ctx ends (a normal stop, returning nil) or fails.
type Job struct {
	Name string
	Run  func(ctx context.Context) error
}

// Table is the schedule of one table: what its jobs share.
type Table struct {
	deps Deps
	cfg  config.Table
	rec  metrics.Recorder
	log  *slog.Logger
	cat  *catalog.Catalog
}

// NewTable returns the schedule of table t, whose checkpoints are in checkpoints; rec
// hears how every run went.
func NewTable(deps Deps, t config.Table, checkpoints checkpoint.Store, rec metrics.Recorder) *Table {
	if deps.Now == nil {
		deps.Now = time.Now
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	return &Table{
		deps: deps, cfg: t, rec: rec,
		log: deps.Logger.With("table", t.Name),
		cat: catalog.New(deps.Bucket, t.Name, checkpoints),
	}
}

// Jobs returns the jobs t's config asks for (snapshots, compaction and retention when
// Deps.Maintenance, verification), and the restorable-window gauges, which always run.
func (s *Table) Jobs() []Job {
	var jobs []Job
	if s.cfg.Snapshot.Every > 0 || s.cfg.Snapshot.AtStartIfMissing {
		jobs = append(jobs, s.SnapshotJob())
	}
	if s.cfg.Compaction.Every > 0 && s.deps.Maintenance {
		jobs = append(jobs, s.CompactionJob())
	}
	if s.cfg.Retention > 0 && s.deps.Maintenance {
		jobs = append(jobs, s.RetentionJob())
	}
	if s.cfg.Verify.Every > 0 {
		jobs = append(jobs, s.VerifyJob())
	}
	return append(jobs, s.WindowJob())
}

// look calls read until it succeeds, reading again every recheckEvery; a failure is
// logged as what. False when ctx ended first.
func (s *Table) look(ctx context.Context, what string, read func(context.Context) error) bool {
	for {
		err := read(ctx)
		if err == nil {
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		s.log.Warn(what+"; trying again", "err", err)
		if !sleep(ctx, recheckEvery) {
			return false
		}
	}
}

// waitDue sleeps towards due, and after failures in a row at least retryAfter(failures)
// from now, but at most recheckEvery at a time, so that the destination is looked at
// again meanwhile. ready is true when the time has come, false when the caller should
// look again first; ok is false when ctx ended.
func (s *Table) waitDue(ctx context.Context, due time.Time, failures int) (ready, ok bool) {
	wait := due.Sub(s.deps.Now())
	if failures > 0 {
		wait = max(wait, retryAfter(failures))
	}
	if wait <= 0 {
		return true, true
	}
	if !sleep(ctx, min(wait, recheckEvery)) {
		return false, false
	}
	return wait <= recheckEvery, true
}

// sleep waits d or until ctx ends; false when ctx ended.
func sleep(ctx context.Context, d time.Duration) bool { return retry.Sleep(ctx, d) == nil }
