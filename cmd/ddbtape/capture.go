package main

import (
	"context"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/ddbtape/ddbtape/checkpoint"
	ckdynamo "github.com/ddbtape/ddbtape/checkpoint/dynamodb"
	"github.com/ddbtape/ddbtape/connect"
	"github.com/ddbtape/ddbtape/internal/cli"
	"github.com/ddbtape/ddbtape/metrics"
	"github.com/ddbtape/ddbtape/replicator"
	"github.com/ddbtape/ddbtape/shards"
	"github.com/ddbtape/ddbtape/writer"
)

const captureUsage = "--table NAME [--table NAME ...] --dest URL [--checkpoint URL|dynamodb://TABLE [--app-name NAME] [--worker-id ID]] [--start trim-horizon|latest] [--until-idle DUR]"

func runCapture(ctx context.Context, e *cli.Env, args []string) error {
	fs := cli.NewFlagSet(e, "capture", captureUsage)
	var (
		aws         awsFlags
		store       storageFlags
		logs        cli.LogFlags
		fleet       fleetFlags
		tables      cli.Strings
		dest        = fs.String("dest", "", "where segments go: a directory, file:///path or s3://bucket/prefix (required)")
		checkpt     = fs.String("checkpoint", "", "checkpoint store: a directory, an s3:// URL, or dynamodb://TABLE to share shards among workers through leases (default: <dest>/<table>/checkpoints/)")
		start       = fs.String("start", "trim-horizon", "where a first run starts reading: trim-horizon (the last 24 hours) or latest")
		untilIdle   = fs.Duration("until-idle", 0, "exit 0 once every open shard returned no new record for this long and all is stored (0: run until SIGINT/SIGTERM)")
		spoolDir    = fs.String("spool-dir", "", "local directory for segments being written (default: the system temp directory)")
		defaults    = writer.DefaultRollPolicy()
		rollRecs    = fs.Int("roll-records", defaults.MaxRecords, "roll a segment after this many records")
		rollBytes   = fs.Int64("roll-bytes", defaults.MaxBytes, "roll a segment after this many bytes of records")
		rollAge     = fs.Duration("roll-age", defaults.MaxAge, "roll a segment once its first record is this old")
		pollEvery   = fs.Duration("poll-interval", shards.DefaultPollInterval, "how often an open shard is polled (GetRecords calls are billed)")
		idlePoll    = fs.Duration("idle-poll-interval", 0, "the longest wait between polls of an idle shard (default: a minute, at most --roll-age): an idle shard costs at most 3600/this GetRecords an hour")
		retryBound  = fs.Duration("retry-bound", shards.DefaultRetryBound, "how long a failing call is retried before capture stops and says so")
		reportEvery = fs.Duration("report-interval", replicator.DefaultReportInterval, "how often a line per table says what the capture stored and how far it has read (info level)")
		storeBound  = fs.Duration("store-retry-bound", replicator.DefaultStoreRetryBound, "how long storing a segment or checkpoint is retried (reading paused, checkpoint held) before capture stops and says so")
	)
	fs.Var(&tables, "table", "table whose stream to capture (required; repeat it to capture several tables in this process)")
	aws.register(fs)
	store.register(fs)
	store.registerLock(fs)
	logs.Register(fs)
	fleet.register(fs)
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	if len(tables) == 0 {
		return cli.RequireTable("")
	}
	seen := map[string]bool{}
	for _, t := range tables {
		if err := cli.RequireTable(t); err != nil {
			return err
		}
		if seen[t] {
			return cli.Usagef("--table %s given twice", t)
		}
		seen[t] = true
	}
	if err := fleet.Validate(*checkpt); err != nil {
		return err
	}
	if *dest == "" {
		return cli.Usagef("--dest is required")
	}
	startPos, err := shards.ParseStartPosition(*start)
	if err != nil {
		return cli.Usagef("--start: %v", err)
	}
	roll := writer.RollPolicy{MaxRecords: *rollRecs, MaxBytes: *rollBytes, MaxAge: *rollAge}
	if err := roll.Validate(); err != nil {
		return cli.Usage(err)
	}
	if err := cli.NonNegative(map[string]time.Duration{"until-idle": *untilIdle, "poll-interval": *pollEvery, "idle-poll-interval": *idlePoll, "retry-bound": *retryBound, "store-retry-bound": *storeBound, "report-interval": *reportEvery}); err != nil {
		return err
	}
	if err := store.validate(); err != nil {
		return err
	}
	log, err := logs.Logger(e)
	if err != nil {
		return err
	}

	aws.Log = log
	cfg, err := aws.Load(ctx)
	if err != nil {
		return err
	}
	bucket, err := store.Bucket(ctx, cfg, *dest)
	if err != nil {
		return err
	}
	var (
		ddbStore  *ckdynamo.Store
		ddbClient *dynamodb.Client
	)
	if connect.IsDynamoDB(*checkpt) {
		if ddbStore, ddbClient, err = fleet.Store(ctx, cfg, *checkpt, aws.EndpointURL); err != nil {
			return err
		}
	}
	// One Capture per table, each with its own stream, layout under <dest>/<table>/ and,
	// with a DynamoDB checkpoint table, its own lease manager.
	captures := make([]*replicator.Capture, len(tables))
	for i, table := range tables {
		var checkpoints checkpoint.Store
		var leases replicator.Leases
		if ddbStore != nil {
			checkpoints = ddbStore
			m, err := fleet.Leases(ddbClient, ddbStore, table, metrics.Nop{}, log)
			if err != nil {
				return err
			}
			leases = m
		} else if checkpoints, err = store.Checkpoints(ctx, cfg, *checkpt, bucket, table); err != nil {
			return err
		}
		captures[i], err = replicator.NewCapture(replicator.Config{
			Table:          table,
			StartLatest:    startPos == shards.Latest,
			Roll:           roll,
			UntilIdle:      *untilIdle,
			ReportInterval: *reportEvery,
			SpoolDir:       *spoolDir,
			Reader:         shards.Reader{PollInterval: *pollEvery, MaxIdleInterval: *idlePoll, RetryBound: *retryBound},
			Leases:         leases,
			Logger:         log,
			// StoreRetryBound 0 takes the default.
			StoreRetryBound: *storeBound,
		}, aws.DynamoDB(cfg), aws.Streams(cfg), bucket, checkpoints)
		if err != nil {
			return err
		}
	}
	began := time.Now()
	err = replicator.RunAll(ctx, captures)
	replicator.WriteSummary(e.Stderr, captures, time.Since(began), err != nil)
	return err
}
