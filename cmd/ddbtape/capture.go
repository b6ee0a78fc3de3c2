package main

import (
	"context"
	"fmt"
	"time"

	"github.com/ddbtape/ddbtape/replicator"
	"github.com/ddbtape/ddbtape/shards"
	"github.com/ddbtape/ddbtape/writer"
)

const captureUsage = "--table NAME --dest URL [--checkpoint URL] [--start trim-horizon|latest] [--until-idle DUR]"

func runCapture(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "capture", captureUsage)
	var (
		aws        awsFlags
		store      storageFlags
		logs       logFlags
		table      = fs.String("table", "", "table whose stream to capture (required)")
		dest       = fs.String("dest", "", "where segments go: a directory, file:///path or s3://bucket/prefix (required)")
		checkpt    = fs.String("checkpoint", "", "checkpoint store: a directory or s3:// URL (default: <dest>/<table>/checkpoints/)")
		start      = fs.String("start", "trim-horizon", "where a first run starts reading: trim-horizon (the last 24 hours) or latest")
		untilIdle  = fs.Duration("until-idle", 0, "exit 0 once every open shard returned no new record for this long and all is stored (0: run until SIGINT/SIGTERM)")
		spoolDir   = fs.String("spool-dir", "", "local directory for segments being written (default: the system temp directory)")
		defaults   = writer.DefaultRollPolicy()
		rollRecs   = fs.Int("roll-records", defaults.MaxRecords, "roll a segment after this many records")
		rollBytes  = fs.Int64("roll-bytes", defaults.MaxBytes, "roll a segment after this many bytes of records")
		rollAge    = fs.Duration("roll-age", defaults.MaxAge, "roll a segment once its first record is this old")
		pollEvery  = fs.Duration("poll-interval", shards.DefaultPollInterval, "how often an open shard is polled (GetRecords calls are billed)")
		retryBound = fs.Duration("retry-bound", shards.DefaultRetryBound, "how long a failing call is retried before capture stops and says so")
	)
	aws.register(fs)
	store.register(fs)
	logs.register(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := requireTable(*table); err != nil {
		return err
	}
	if *dest == "" {
		return usagef("--dest is required")
	}
	startPos, err := shards.ParseStartPosition(*start)
	if err != nil {
		return &usageError{msg: "--start: " + err.Error()}
	}
	roll := writer.RollPolicy{MaxRecords: *rollRecs, MaxBytes: *rollBytes, MaxAge: *rollAge}
	if err := roll.Validate(); err != nil {
		return &usageError{msg: err.Error()}
	}
	for name, d := range map[string]time.Duration{"until-idle": *untilIdle, "poll-interval": *pollEvery, "retry-bound": *retryBound} {
		if err := nonNegative(name, d); err != nil {
			return err
		}
	}
	if err := store.validate(); err != nil {
		return err
	}
	log, err := logs.logger(e)
	if err != nil {
		return err
	}

	aws.log = log
	cfg, err := aws.load(ctx)
	if err != nil {
		return err
	}
	bucket, err := store.openBucket(ctx, e, cfg, *dest)
	if err != nil {
		return err
	}
	checkpoints, err := store.openCheckpoints(ctx, e, cfg, *checkpt, bucket, *table)
	if err != nil {
		return err
	}
	capture, err := replicator.NewCapture(replicator.Config{
		Table:       *table,
		StartLatest: startPos == shards.Latest,
		Roll:        roll,
		UntilIdle:   *untilIdle,
		SpoolDir:    *spoolDir,
		Reader:      shards.Reader{PollInterval: *pollEvery, RetryBound: *retryBound},
		Logger:      log,
	}, aws.dynamoDB(cfg), aws.streams(cfg), bucket, checkpoints)
	if err != nil {
		return err
	}
	began := time.Now()
	err = capture.Run(ctx)
	if st := capture.Stats(); err == nil || st.Records > 0 {
		fmt.Fprintf(e.stderr, "captured %d records into %d segments in %s", st.Records, st.Segments, time.Since(began).Round(time.Millisecond))
		if st.Gaps > 0 {
			fmt.Fprintf(e.stderr, "; %d gaps recorded (see 'ddbtape status')", st.Gaps)
		}
		fmt.Fprintln(e.stderr)
	}
	return err
}
