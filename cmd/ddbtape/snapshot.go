package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/ddbtape/ddbtape/internal/cli"
	"github.com/ddbtape/ddbtape/progress"
	"github.com/ddbtape/ddbtape/snapshot"
	"github.com/ddbtape/ddbtape/writer"
)

const snapshotUsage = "--table NAME --dest URL [--segments N] [--workers N] [--max-rcu N] [--resume ID] [--consistent]"

func runSnapshot(ctx context.Context, e *cli.Env, args []string) error {
	fs := cli.NewFlagSet(e, "snapshot", snapshotUsage)
	var (
		aws           awsFlags
		store         storageFlags
		logs          cli.LogFlags
		parts         = writer.DefaultPartPolicy()
		table         = fs.String("table", "", "table to snapshot (required)")
		dest          = fs.String("dest", "", "where the snapshot goes: a directory, file:///path or s3://bucket/prefix (required)")
		segments      = fs.Int("segments", 0, "parallel Scan segments (default: one per GiB of the table, at least --workers)")
		workers       = fs.Int("workers", snapshot.DefaultWorkers, "segments scanned at once")
		maxRCU        = fs.Float64("max-rcu", 0, "read at most this many read capacity units per second (0: no cap)")
		resume        = fs.String("resume", "", "continue the incomplete snapshot with this id instead of starting a new one")
		consistent    = fs.Bool("consistent", false, "strongly consistent reads (costs twice the read capacity)")
		pageSize      = fs.Int("page-size", 0, "items per Scan page (0: DynamoDB's 1 MB pages)")
		partRows      = fs.Int("part-rows", parts.MaxRows, "cut a Parquet part after this many items (at a page boundary)")
		partBytes     = fs.Int64("part-bytes", parts.MaxBytes, "cut a Parquet part after this many bytes of items (at a page boundary)")
		spoolDir      = fs.String("spool-dir", "", "local directory for parts being written (default: the system temp directory)")
		retryBound    = fs.Duration("retry-bound", snapshot.DefaultRetryBound, "how long a throttled or failing page is retried before the snapshot stops, resumable")
		progressEvery = fs.Duration("progress-interval", 0, "how often progress is reported (default: live on a terminal, every 5s otherwise)")
	)
	aws.register(fs)
	store.register(fs)
	store.registerLock(fs)
	logs.Register(fs)
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	if err := cli.RequireTable(*table); err != nil {
		return err
	}
	policy := writer.PartPolicy{MaxRows: *partRows, MaxBytes: *partBytes}
	switch {
	case *dest == "":
		return cli.Usagef("--dest is required")
	case *segments < 0 || *segments > 1_000_000:
		return cli.Usagef("--segments must be between 1 and 1000000, got %d", *segments)
	case *workers < 1:
		return cli.Usagef("--workers must be at least 1, got %d", *workers)
	case *maxRCU < 0 || math.IsNaN(*maxRCU) || math.IsInf(*maxRCU, 0):
		return cli.Usagef("--max-rcu must be a non-negative number, got %g", *maxRCU)
	case *pageSize < 0 || *pageSize > math.MaxInt32:
		return cli.Usagef("--page-size must not be negative, got %d", *pageSize)
	case *resume != "" && !snapshot.ValidID(*resume):
		return cli.Usagef("--resume %q is not a snapshot id (they look like 20261121T190412Z-ab12)", *resume)
	case *retryBound <= 0:
		return cli.Usagef("--retry-bound must be positive, got %s", *retryBound)
	}
	if err := policy.Validate(); err != nil {
		return cli.Usage(err)
	}
	if err := cli.NonNegative(map[string]time.Duration{"progress-interval": *progressEvery}); err != nil {
		return err
	}
	if err := store.validate(); err != nil {
		return err
	}
	log, err := logs.Logger(e)
	if err != nil {
		return err
	}

	cfg, err := aws.Load(ctx)
	if err != nil {
		return err
	}
	bucket, err := store.Bucket(ctx, cfg, *dest)
	if err != nil {
		return err
	}
	job, err := snapshot.Prepare(ctx, aws.DynamoDB(cfg), bucket, snapshot.Config{
		Table:      *table,
		SnapshotID: *resume,
		Segments:   *segments,
		Workers:    *workers,
		MaxRCU:     *maxRCU,
		Consistent: *consistent,
		PageSize:   int32(*pageSize),
		Part:       policy,
		SpoolDir:   *spoolDir,
		RetryBound: *retryBound,
		Logger:     log,
	})
	if errors.Is(err, snapshot.ErrSegmentsChanged) {
		return cli.Usage(err)
	}
	if err != nil {
		return err
	}

	storedItems, storedBytes := job.Stored()
	if job.Resumed() {
		fmt.Fprintf(e.Stderr, "resuming snapshot %s of %s (started %s): %s, %s already stored\n",
			job.ID(), job.Table(), job.StartedAt().Format(time.RFC3339), progress.Count(job.Segments(), "segment"), progress.Count(storedItems, "item"))
	} else {
		fmt.Fprintf(e.Stderr, "snapshot %s of %s: %s, %s, about %s; if interrupted, continue it with --resume %s\n",
			job.ID(), job.Table(), progress.Count(job.Segments(), "segment"), progress.Count(job.Workers(), "worker"), progress.Count(job.EstimatedItems(), "item"), job.ID())
	}
	interval := *progressEvery
	if interval == 0 {
		interval = 5 * time.Second
		if e.StderrIsTerminal {
			interval = 500 * time.Millisecond
		}
	}
	meter := progress.New(e.Stderr, "snapshot "+job.Table(), job.EstimatedItems(), e.StderrIsTerminal, interval)
	meter.Preset(storedItems, storedBytes)
	m, err := job.Run(ctx, meter)
	if err != nil {
		meter.Stopped()
	} else {
		meter.Done()
	}
	st := job.Stats()
	if st.Retries > 0 {
		fmt.Fprintf(e.Stderr, "retried %d pages (%d throttled)\n", st.Retries, st.Throttles)
	}
	if err != nil {
		return err
	}
	var size int64
	for _, p := range m.Parts {
		size += p.Bytes
	}
	fmt.Fprintf(e.Stderr, "snapshot %s complete: %s in %s (%s), scanned from %s to %s\n",
		m.SnapshotID, progress.Count(m.ItemCount, "item"), progress.Count(len(m.Parts), "part"), progress.Bytes(size), m.StartedAt.Format(time.RFC3339), m.FinishedAt.Format(time.RFC3339))
	if w := job.StreamWarning(); w != "" {
		fmt.Fprintf(e.Stderr, "warning: %s\n", w)
	}
	// The id alone on stdout, for scripts: id=$(ddbtape snapshot ...).
	fmt.Fprintln(e.Stdout, m.SnapshotID)
	return nil
}
