package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	"golang.org/x/sync/errgroup"

	"github.com/ddbtape/ddbtape/checkpoint"
	ckdynamo "github.com/ddbtape/ddbtape/checkpoint/dynamodb"
	"github.com/ddbtape/ddbtape/config"
	"github.com/ddbtape/ddbtape/metrics"
	"github.com/ddbtape/ddbtape/replicator"
	"github.com/ddbtape/ddbtape/schedule"
	"github.com/ddbtape/ddbtape/shards"
	"github.com/ddbtape/ddbtape/storage"
	s3store "github.com/ddbtape/ddbtape/storage/s3"
	"github.com/ddbtape/ddbtape/version"
	"github.com/ddbtape/ddbtape/writer"
)

const runUsage = "--config FILE [--check]"

// DefaultConfigPath is where the container image and the deploy manifests put the file.
const DefaultConfigPath = "/etc/ddbtape/ddbtape.yaml"

// errGraceExpired means a stop took longer than the config's shutdown-grace.
var errGraceExpired = errors.New("shutdown grace period expired before every table stored and checkpointed what it read; nothing is lost (the next start re-reads from the last checkpoints), but raise shutdown-grace if this repeats")

// runOptions are the flags of `ddbtape run`; everything else is in the config file.
type runOptions struct {
	config string
	check  bool
}

// runFlags builds the run command's flag set (the deploy tests parse the manifests'
// container arguments with it).
func runFlags(e *env) (*flag.FlagSet, *runOptions) {
	fs := newFlagSet(e, "run", runUsage)
	o := &runOptions{}
	fs.StringVar(&o.config, "config", "", "the YAML configuration file (required; see deploy/ddbtape.yaml, e.g. "+DefaultConfigPath+")")
	fs.BoolVar(&o.check, "check", false, "load and validate the configuration, print a summary and exit")
	return fs, o
}

// runRun is `ddbtape run`: the long-running process of a sidecar or a standalone
// deployment. It captures every configured table, serves /metrics, /healthz and
// /readyz, and on SIGTERM or SIGINT stops reading, stores and checkpoints what it read
// and exits 0 within the configured grace period.
func runRun(ctx context.Context, e *env, args []string) error {
	fs, o := runFlags(e)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if o.config == "" {
		return usagef("--config is required (e.g. --config %s)", DefaultConfigPath)
	}
	cfg, err := config.Load(o.config, e.getenv)
	if err != nil {
		// Every mistake in the file is the user's to fix: a usage error, one line.
		return &usageError{msg: err.Error()}
	}
	if o.check {
		fmt.Fprintf(e.stdout, "config %s: ok: %s\n", o.config, cfg)
		return nil
	}
	logs := logFlags{level: cfg.Log.Level, format: cfg.Log.Format}
	log, err := logs.logger(e)
	if err != nil {
		return err
	}
	workerID := cfg.WorkerID
	if workerID == "" {
		if workerID, err = os.Hostname(); err != nil {
			return fmt.Errorf("worker-id is empty and the host name is unknown (%w): set worker-id", err)
		}
	}
	log = log.With("app", cfg.AppName, "worker", workerID)

	// Listen before anything else (AWS included), so that a taken port is one clear error.
	ln, err := net.Listen("tcp", cfg.HTTP.Address)
	if err != nil {
		return fmt.Errorf("http.address %s: %w", cfg.HTTP.Address, err)
	}
	d, err := openRunDeps(ctx, e, cfg, log)
	if err != nil {
		ln.Close()
		return err
	}
	m := metrics.New(metrics.Options{AppName: cfg.AppName, WorkerID: workerID, Version: version.String()})

	var jobs []schedule.Job
	loaders := map[string]metrics.CheckpointLoader{}
	for _, t := range cfg.Tables {
		tj, loader, err := tableJobs(ctx, e, d, t, m)
		if err != nil {
			ln.Close()
			return fmt.Errorf("table %s: %w", t.Name, err)
		}
		jobs = append(jobs, tj...)
		loaders[t.Name] = loader
	}
	var stopping atomic.Bool
	ready := metrics.AllReady(
		metrics.ReadinessFunc(func(context.Context) error {
			if stopping.Load() {
				return errors.New("shutting down")
			}
			return nil
		}),
		metrics.NewCheckpointReadiness(loaders, cfg.HTTP.ReadyCheckpointAge),
	)
	srv := metrics.NewServer(m.Registry(), ready, log)
	log.Info("ddbtape run started", "config", o.config, "tables", len(cfg.Tables), "destination", cfg.Destination, "http_address", ln.Addr().String())
	return supervise(ctx, log, cfg.ShutdownGrace, &stopping, srv, ln, jobs)
}

// runDeps are the clients and stores every table shares.
type runDeps struct {
	cfg     *config.Config
	log     *slog.Logger
	awsCfg  aws.Config
	aws     awsFlags
	store   storageFlags
	db      *dynamodb.Client
	streams *dynamodbstreams.Client
	bucket  storage.Bucket
}

func openRunDeps(ctx context.Context, e *env, cfg *config.Config, log *slog.Logger) (*runDeps, error) {
	d := &runDeps{
		cfg: cfg,
		log: log,
		aws: awsFlags{region: cfg.Region, endpointURL: cfg.EndpointURL, log: log},
		store: storageFlags{sse: cfg.S3.SSE, sseKMSKeyID: cfg.S3.KMSKeyID, pathStyle: cfg.S3.PathStyle,
			creds: s3store.Credentials{Profile: cfg.S3.Profile, RoleARN: cfg.S3.RoleARN}, lock: s3store.Lock(cfg.ObjectLock)},
	}
	var err error
	if d.awsCfg, err = d.aws.load(ctx); err != nil {
		if isUsage(err) {
			return nil, usagef("no AWS region: set region in the config file or AWS_REGION")
		}
		return nil, err
	}
	d.db, d.streams = d.aws.dynamoDB(d.awsCfg), d.aws.streams(d.awsCfg)
	if cfg.SpoolDir != "" {
		// The spool is usually an emptyDir or a StateDirectory: make sure it exists, and
		// fail now, naming it, if it is not writable.
		if err := os.MkdirAll(cfg.SpoolDir, 0o700); err != nil {
			return nil, fmt.Errorf("spool-dir: %w", err)
		}
	}
	if d.bucket, err = d.store.openBucket(ctx, e, d.awsCfg, cfg.Destination); err != nil {
		return nil, fmt.Errorf("destination: %w", err)
	}
	return d, nil
}

// tableJobs returns what runs for one table, and where its checkpoints are read for
// /readyz: capture, and the jobs the config schedules (package schedule).
func tableJobs(ctx context.Context, e *env, d *runDeps, t config.Table, rec metrics.Recorder) ([]schedule.Job, metrics.CheckpointLoader, error) {
	log := d.log.With("table", t.Name)
	var (
		checkpoints checkpoint.Store
		leases      replicator.Leases
		err         error
	)
	if isDynamoDBCheckpoint(d.cfg.Checkpoint) {
		// A DynamoDB checkpoint table means a fleet: shards are shared through leases,
		// as with capture --checkpoint dynamodb://.
		fleet := fleetFlags{app: d.cfg.AppName, workerID: d.cfg.WorkerID, leaseDuration: ckdynamo.DefaultLeaseDuration}
		store, client, err := fleet.openDynamoDBCheckpoints(ctx, d.awsCfg, d.cfg.Checkpoint, d.cfg.EndpointURL)
		if err != nil {
			return nil, nil, fmt.Errorf("checkpoint: %w", err)
		}
		m, err := fleet.newLeases(client, store, t.Name, rec, log)
		if err != nil {
			return nil, nil, err
		}
		checkpoints, leases = store, m
	} else if checkpoints, err = d.store.openCheckpoints(ctx, e, d.awsCfg, d.cfg.Checkpoint, d.bucket, t.Name); err != nil {
		return nil, nil, err
	}
	capture, err := replicator.NewCapture(replicator.Config{
		Table:       t.Name,
		StartLatest: t.Start == "latest",
		Roll:        writer.RollPolicy{MaxRecords: t.Roll.Records, MaxBytes: t.Roll.Bytes, MaxAge: t.Roll.Age},
		SpoolDir:    d.cfg.SpoolDir,
		Reader:      shards.Reader{PollInterval: d.cfg.PollInterval, MaxIdleInterval: d.cfg.IdlePollInterval, RetryBound: d.cfg.RetryBound},
		Metrics:     rec,
		Leases:      leases,
		// The final flush must end inside the grace period, with a margin for the
		// checkpoint save and the process exit.
		FlushTimeout: max(d.cfg.ShutdownGrace*3/4, time.Second),
		Logger:       d.log,
	}, d.db, d.streams, d.bucket, checkpoints)
	if err != nil {
		return nil, nil, err
	}
	rec.TableScheduled(t.Name, metrics.Schedule{SnapshotEvery: t.Snapshot.Every, VerifyEvery: t.Verify.Every})
	sched := schedule.NewTable(schedule.Deps{DB: d.db, Bucket: d.bucket, SpoolDir: d.cfg.SpoolDir, RetryBound: d.cfg.RetryBound, Maintenance: d.cfg.Maintenance, Logger: d.log}, t, checkpoints, rec)
	jobs := append([]schedule.Job{{Name: "capture " + t.Name, Run: capture.Run}}, sched.Jobs()...)
	return jobs, captureReadiness{checkpoints, capture}, nil
}

// captureReadiness is what /readyz reads of a table: its checkpoints, and when its
// capture began reading (metrics.ReadingSince).
type captureReadiness struct {
	metrics.CheckpointLoader
	*replicator.Capture
}

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
		return fmt.Errorf("%w (shutdown-grace %s)", errGraceExpired, grace)
	}
}
