package sidecar

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/ddbtape/ddbtape/metrics"
	"github.com/ddbtape/ddbtape/schedule"
)

// ErrGraceExpired means a stop took longer than the config's shutdown-grace.
var ErrGraceExpired = errors.New("shutdown grace period expired before every table stored and checkpointed what it read; nothing is lost (the next start re-reads from the last checkpoints), but raise shutdown-grace if this repeats")

// supervise runs jobs and the HTTP server until ctx ends or a job fails. Then it stops
// every job (each stores and checkpoints what it read) and waits for them up to grace.
// The HTTP server keeps answering while jobs drain (with /readyz failing), so probes and
// a last scrape see the stop, and closes after them.
func supervise(ctx context.Context, log *slog.Logger, grace time.Duration, stopping *atomic.Bool, srv *metrics.Server, ln net.Listener, jobs []schedule.Job) error {
	jobCtx, stopJobs := context.WithCancel(ctx)
	defer stopJobs()
	g, gctx := errgroup.WithContext(jobCtx)
	for _, j := range jobs {
		g.Go(func() error {
			if err := j.Run(gctx); err != nil {
				return fmt.Errorf("%s: %w", j.Name, err)
			}
			return nil
		})
	}
	jobsDone := make(chan error, 1)
	go func() { jobsDone <- g.Wait() }()

	srvCtx, stopServer := context.WithCancel(context.WithoutCancel(ctx))
	defer stopServer()
	srvDone := make(chan error, 1)
	go func() { srvDone <- srv.Serve(srvCtx, ln) }()

	var jobsErr, srvErr error
	serverEnded := false
	select {
	case jobsErr = <-jobsDone:
		stopping.Store(true)
	case srvErr = <-srvDone:
		serverEnded = true
		stopping.Store(true)
		log.Error("http server failed; stopping", "err", srvErr)
		stopJobs()
		jobsErr = waitGrace(jobsDone, grace)
	case <-ctx.Done():
		stopping.Store(true)
		log.Info("stopping: storing and checkpointing what was read", "grace", grace)
		jobsErr = waitGrace(jobsDone, grace)
	}
	stopServer()
	if !serverEnded {
		srvErr = <-srvDone
	}
	if jobsErr != nil {
		return jobsErr
	}
	if srvErr != nil {
		return srvErr
	}
	log.Info("ddbtape run stopped")
	return nil
}

// waitGrace waits for the jobs to end, at most grace. When it gives up, the jobs are
// still flushing: the process exits under them, and what they had not checkpointed is
// read again on the next start.
func waitGrace(jobsDone <-chan error, grace time.Duration) error {
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case err := <-jobsDone:
		return err
	case <-t.C:
		return fmt.Errorf("%w (shutdown-grace %s)", ErrGraceExpired, grace)
	}
}
