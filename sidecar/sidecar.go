// Package sidecar is `ddbtape run`: the long-running process of a sidecar or a
// standalone deployment. From a loaded config it captures every table, runs the jobs the
// config schedules for each (package schedule), serves /metrics, /healthz and /readyz,
// and on a stop has every job store and checkpoint what it read within the grace period.
package sidecar

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"

	"github.com/ddbtape/ddbtape/checkpoint"
	ckdynamo "github.com/ddbtape/ddbtape/checkpoint/dynamodb"
	"github.com/ddbtape/ddbtape/config"
	"github.com/ddbtape/ddbtape/connect"
	"github.com/ddbtape/ddbtape/metrics"
	"github.com/ddbtape/ddbtape/replicator"
	"github.com/ddbtape/ddbtape/schedule"
	"github.com/ddbtape/ddbtape/shards"
	"github.com/ddbtape/ddbtape/storage"
	s3store "github.com/ddbtape/ddbtape/storage/s3"
	"github.com/ddbtape/ddbtape/version"
	"github.com/ddbtape/ddbtape/writer"
)

// Run runs cfg until ctx ends (then stops cleanly) or a job fails. configPath is for
// the start line only.
func Run(ctx context.Context, cfg *config.Config, configPath string, log *slog.Logger) error {
	workerID := cfg.WorkerID
	if workerID == "" {
		var err error
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
	d, err := open(ctx, cfg, log)
	if err != nil {
		ln.Close()
		return err
	}
	m := metrics.New(metrics.Options{AppName: cfg.AppName, WorkerID: workerID, Version: version.String()})

	var jobs []schedule.Job
	loaders := map[string]metrics.CheckpointLoader{}
	for _, t := range cfg.Tables {
		tj, loader, err := d.tableJobs(ctx, t, m)
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
	log.Info("ddbtape run started", "config", configPath, "tables", len(cfg.Tables), "destination", cfg.Destination, "http_address", ln.Addr().String())
	return supervise(ctx, log, cfg.ShutdownGrace, &stopping, srv, ln, jobs)
}

// deps are the clients and stores every table shares.
type deps struct {
	cfg     *config.Config
	log     *slog.Logger
	awsCfg  aws.Config
	store   connect.Storage
	db      *dynamodb.Client
	streams *dynamodbstreams.Client
	bucket  storage.Bucket
}

func open(ctx context.Context, cfg *config.Config, log *slog.Logger) (*deps, error) {
	a := connect.AWS{Region: cfg.Region, EndpointURL: cfg.EndpointURL, Log: log}
	d := &deps{cfg: cfg, log: log, store: connect.Storage{SSE: cfg.S3.SSE, SSEKMSKeyID: cfg.S3.KMSKeyID, PathStyle: cfg.S3.PathStyle,
		Creds: s3store.Credentials{Profile: cfg.S3.Profile, RoleARN: cfg.S3.RoleARN}, Lock: s3store.Lock(cfg.ObjectLock), DynamoDBEndpoint: cfg.EndpointURL}}
	var err error
	if d.awsCfg, err = a.Load(ctx); err != nil {
		if errors.Is(err, connect.ErrNoRegion) {
			return nil, &connect.SettingError{Msg: "no AWS region: set region in the config file or AWS_REGION"}
		}
		return nil, err
	}
	d.db, d.streams = a.DynamoDB(d.awsCfg), a.Streams(d.awsCfg)
	if cfg.SpoolDir != "" {
		// The spool is usually an emptyDir or a StateDirectory: make sure it exists, and
		// fail now, naming it, if it is not writable.
		if err := os.MkdirAll(cfg.SpoolDir, 0o700); err != nil {
			return nil, fmt.Errorf("spool-dir: %w", err)
		}
	}
	if d.bucket, err = d.store.Bucket(ctx, d.awsCfg, cfg.Destination); err != nil {
		return nil, fmt.Errorf("destination: %w", err)
	}
	return d, nil
}

// tableJobs returns what runs for one table, and where its checkpoints are read for
// /readyz: capture, and the jobs the config schedules (package schedule).
func (d *deps) tableJobs(ctx context.Context, t config.Table, rec metrics.Recorder) ([]schedule.Job, metrics.CheckpointLoader, error) {
	var (
		checkpoints checkpoint.Store
		leases      replicator.Leases
		err         error
	)
	if connect.IsDynamoDB(d.cfg.Checkpoint) {
		// A DynamoDB checkpoint table means a fleet: shards are shared through leases,
		// as with capture --checkpoint dynamodb://.
		fleet := connect.Fleet{App: d.cfg.AppName, WorkerID: d.cfg.WorkerID, LeaseDuration: ckdynamo.DefaultLeaseDuration}
		store, client, err := fleet.Store(ctx, d.awsCfg, d.cfg.Checkpoint, d.cfg.EndpointURL)
		if err != nil {
			return nil, nil, fmt.Errorf("checkpoint: %w", err)
		}
		m, err := fleet.Leases(client, store, t.Name, rec, d.log.With("table", t.Name))
		if err != nil {
			return nil, nil, err
		}
		checkpoints, leases = store, m
	} else if checkpoints, err = d.store.Checkpoints(ctx, d.awsCfg, d.cfg.Checkpoint, d.bucket, t.Name); err != nil {
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
