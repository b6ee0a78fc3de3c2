package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/ddbtape/ddbtape/catalog"
	"github.com/ddbtape/ddbtape/checkpoint"
	"github.com/ddbtape/ddbtape/internal/cli"
	"github.com/ddbtape/ddbtape/progress"
	"github.com/ddbtape/ddbtape/replay"
	"github.com/ddbtape/ddbtape/restore"
	"github.com/ddbtape/ddbtape/storage"
)

// sourceFlags are what restore, status and verify share: where the backup is and how to read it.
type sourceFlags struct {
	aws      awsFlags
	store    storageFlags
	source   *string
	table    *string
	checkpt  *string
	tempDir  *string
	parallel *int
}

func (s *sourceFlags) register(fs *flag.FlagSet) {
	s.aws.register(fs)
	s.store.register(fs)
	s.source = fs.String("source", "", "where the backup is: a directory, file:///path or s3://bucket/prefix (required)")
	s.table = fs.String("table", "", "the backed-up table (required)")
	s.checkpt = fs.String("checkpoint", "", "checkpoint store of the capture: a directory, an s3:// URL or dynamodb://TABLE (default: <source>/<table>/checkpoints/)")
	s.tempDir = fs.String("temp-dir", "", "directory for spill files, which need about the uncompressed size of the backup (default: the system temporary directory)")
	s.parallel = fs.Int("parallel", 4, "backup files read at once")
}

func (s *sourceFlags) validate() error {
	if err := cli.RequireTable(*s.table); err != nil {
		return err
	}
	if *s.source == "" {
		return cli.Usagef("--source is required")
	}
	if *s.parallel < 1 {
		return cli.Usagef("--parallel must be at least 1, got %d", *s.parallel)
	}
	return s.store.validate()
}

// source is an opened backup.
type source struct {
	bucket      storage.Bucket
	checkpoints checkpoint.Store
	cat         *catalog.Catalog
	listing     catalog.Listing
}

// bucket opens the source's bucket alone (loading the AWS configuration for S3),
// without reading the backup.
func (s *sourceFlags) bucket(ctx context.Context, e *cli.Env) (storage.Bucket, error) {
	loc, err := storage.ParseURL(*s.source)
	if err != nil {
		return nil, cli.Usagef("--source: %v", err)
	}
	var cfg aws.Config
	if loc.Scheme == "s3" {
		if cfg, err = s.aws.Load(ctx); err != nil {
			return nil, err
		}
	} else if fi, err := os.Stat(loc.Path); err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("--source %s: no backup directory there", *s.source)
	}
	return s.store.Bucket(ctx, cfg, *s.source)
}

// open loads the AWS configuration when needed, opens the bucket and the checkpoint
// store and lists the backup. needAWS forces the configuration (DynamoDB is used).
func (s *sourceFlags) open(ctx context.Context, e *cli.Env, needAWS bool) (aws.Config, source, error) {
	var cfg aws.Config
	loc, err := storage.ParseURL(*s.source)
	if err != nil {
		return cfg, source{}, cli.Usagef("--source: %v", err)
	}
	if needAWS || loc.Scheme == "s3" || strings.HasPrefix(*s.checkpt, "s3://") || strings.HasPrefix(*s.checkpt, "dynamodb://") {
		if cfg, err = s.aws.Load(ctx); err != nil {
			return cfg, source{}, err
		}
	}
	if loc.Scheme == "file" {
		// Reading must not create the directory a mistyped --source names.
		if fi, err := os.Stat(loc.Path); err != nil || !fi.IsDir() {
			return cfg, source{}, fmt.Errorf("--source %s: no backup directory there", *s.source)
		}
	}
	bucket, err := s.store.Bucket(ctx, cfg, *s.source)
	if err != nil {
		return cfg, source{}, err
	}
	s.store.DynamoDBEndpoint = s.aws.EndpointURL
	cps, err := s.store.Checkpoints(ctx, cfg, *s.checkpt, bucket, *s.table)
	if err != nil {
		return cfg, source{}, err
	}
	cat := catalog.New(bucket, *s.table, cps)
	l, err := cat.List(ctx)
	if err != nil {
		return cfg, source{}, err
	}
	if len(l.Snapshots) == 0 && len(l.Segments) == 0 && l.Ledger.Empty() {
		return cfg, source{}, fmt.Errorf("no backup of table %s in %s: check --source and --table", *s.table, *s.source)
	}
	return cfg, source{bucket: bucket, checkpoints: cps, cat: cat, listing: l}, nil
}

// corruptFlags choose what a reader of the backup does with a corrupt file.
type corruptFlags struct{ skip bool }

func (c *corruptFlags) register(fs *flag.FlagSet) {
	fs.BoolVar(&c.skip, "skip-corrupt", false, "skip backup files that are damaged, truncated, of an unknown schema, not matching their manifest or missing, and list each with what is missing because of it (default: stop at the first)")
}

// restoreOptions are how restore and verify read the backup bk and report: progress
// meters and notes on stderr.
func (s *sourceFlags) restoreOptions(e *cli.Env, bk source, c corruptFlags) restore.Options {
	var r replay.Reader = replay.NewBucketReader(bk.bucket, *s.table, *s.tempDir)
	if c.skip {
		r = restore.SkipCorrupt(r)
	}
	interval := 10 * time.Second
	if e.StderrIsTerminal {
		interval = 500 * time.Millisecond
	}
	return restore.Options{
		Reader: r, TempDir: *s.tempDir, Parallelism: *s.parallel, Notes: e.Stderr,
		Meter: func(label, unit string, total int64) restore.Meter {
			return progress.NewUnit(e.Stderr, label, unit, total, e.StderrIsTerminal, interval)
		},
	}
}
