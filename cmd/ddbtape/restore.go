package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/ddbtape/ddbtape/catalog"
	"github.com/ddbtape/ddbtape/checkpoint"
	"github.com/ddbtape/ddbtape/globaltable"
	"github.com/ddbtape/ddbtape/progress"
	"github.com/ddbtape/ddbtape/replay"
	"github.com/ddbtape/ddbtape/restore"
	"github.com/ddbtape/ddbtape/storage"
	"github.com/ddbtape/ddbtape/writer"
)

const restoreUsage = "--source URL --table NAME (--at TIME | --snapshot ID) (--to-table NAME [--create] [--dry-run [--diff]] | --to-file PATH [--force]) [--keys FILE | --key-prefix STR] [--skip-corrupt] [--keep-replication-attributes]"

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
	if err := requireTable(*s.table); err != nil {
		return err
	}
	if *s.source == "" {
		return usagef("--source is required")
	}
	if *s.parallel < 1 {
		return usagef("--parallel must be at least 1, got %d", *s.parallel)
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
func (s *sourceFlags) bucket(ctx context.Context, e *env) (storage.Bucket, error) {
	loc, err := storage.ParseURL(*s.source)
	if err != nil {
		return nil, &usageError{msg: "--source: " + err.Error()}
	}
	var cfg aws.Config
	if loc.Scheme == "s3" {
		if cfg, err = s.aws.load(ctx); err != nil {
			return nil, err
		}
	} else if fi, err := os.Stat(loc.Path); err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("--source %s: no backup directory there", *s.source)
	}
	return s.store.openBucket(ctx, e, cfg, *s.source)
}

// open loads the AWS configuration when needed, opens the bucket and the checkpoint
// store and lists the backup. needAWS forces the configuration (DynamoDB is used).
func (s *sourceFlags) open(ctx context.Context, e *env, needAWS bool) (aws.Config, source, error) {
	var cfg aws.Config
	loc, err := storage.ParseURL(*s.source)
	if err != nil {
		return cfg, source{}, &usageError{msg: "--source: " + err.Error()}
	}
	if needAWS || loc.Scheme == "s3" || strings.HasPrefix(*s.checkpt, "s3://") || strings.HasPrefix(*s.checkpt, "dynamodb://") {
		if cfg, err = s.aws.load(ctx); err != nil {
			return cfg, source{}, err
		}
	}
	if loc.Scheme == "file" {
		// Reading must not create the directory a mistyped --source names.
		if fi, err := os.Stat(loc.Path); err != nil || !fi.IsDir() {
			return cfg, source{}, fmt.Errorf("--source %s: no backup directory there", *s.source)
		}
	}
	bucket, err := s.store.openBucket(ctx, e, cfg, *s.source)
	if err != nil {
		return cfg, source{}, err
	}
	s.store.dynamoEndpoint = s.aws.endpointURL
	cps, err := s.store.openCheckpoints(ctx, e, cfg, *s.checkpt, bucket, *s.table)
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

func runRestore(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "restore", restoreUsage)
	var src sourceFlags
	src.register(fs)
	var (
		atFlag    = fs.String("at", "", "restore the table as it was at this time: RFC 3339 (inclusive), or now/latest for the end of the restorable window")
		snapID    = fs.String("snapshot", "", "instead of --at: restore this snapshot alone, with no change replayed (a snapshot taken before the table had a stream; its items are as the scan read them)")
		toTable   = fs.String("to-table", "", "write into this table: made equal to the state at --at (with --create: a new table)")
		create    = fs.Bool("create", false, "create --to-table from the snapshot's schema (keys, indexes, billing mode; no stream) and load it")
		dryRun    = fs.Bool("dry-run", false, "with --to-table: print how many items would be put, deleted and left unchanged, and write nothing")
		diff      = fs.Bool("diff", false, "with --dry-run: also print the key of every item that would change")
		toFile    = fs.String("to-file", "", "write the items to this file, one {\"Item\":...} per line in DynamoDB JSON (.gz: gzipped)")
		force     = fs.Bool("force", false, "with --to-file: replace an existing file")
		keysFile  = fs.String("keys", "", "restore only the keys in this file, one per line as DynamoDB JSON")
		keyPrefix = fs.String("key-prefix", "", "restore only items whose partition key (a string) starts with this")
		maxWCU    = fs.Float64("max-wcu", 0, "with --to-table: write at most this many write capacity units per second (0: no cap)")
		workers   = fs.Int("write-workers", 8, "with --to-table: BatchWriteItem calls in flight")
		scanSegs  = fs.Int("scan-segments", 4, "with --to-table on an existing table: parallel Scan segments reading it")
		retry     = fs.Duration("retry-bound", 2*time.Minute, "how long a write batch is retried without progress before the restore stops and says so")
		skipBad   = fs.Bool("skip-corrupt", false, skipCorruptUsage)
		keepRep   = fs.Bool("keep-replication-attributes", false, "keep the aws:rep:* attributes a legacy (2017.11.29) global table keeps in its items (default: dropped)")
		lock      lockFlags
	)
	lock.register(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := src.validate(); err != nil {
		return err
	}
	switch {
	case *atFlag == "" && *snapID == "":
		return usagef("--at is required: an RFC 3339 time, or now/latest (or --snapshot ID to restore one snapshot alone)")
	case *atFlag != "" && *snapID != "":
		return usagef("give --at or --snapshot, not both")
	case (*toTable == "") == (*toFile == ""):
		return usagef("give exactly one of --to-table and --to-file")
	case *create && *toTable == "":
		return usagef("--create needs --to-table")
	case *dryRun && *toTable == "":
		return usagef("--dry-run needs --to-table")
	case *diff && !*dryRun:
		return usagef("--diff needs --dry-run")
	case *force && *toFile == "":
		return usagef("--force needs --to-file")
	case *keysFile != "" && *keyPrefix != "":
		return usagef("give at most one of --keys and --key-prefix")
	case *maxWCU < 0:
		return usagef("--max-wcu must not be negative")
	case *workers < 1 || *scanSegs < 1:
		return usagef("--write-workers and --scan-segments must be at least 1")
	}
	if *toTable != "" {
		if err := requireTable(*toTable); err != nil {
			return usagef("--to-table: %v", err)
		}
	}
	var at catalog.At
	if *snapID == "" {
		var err error
		if at, err = catalog.ParseAt(*atFlag); err != nil {
			return &usageError{msg: err.Error()}
		}
	}
	if *toFile != "" && !*force {
		if _, err := os.Lstat(*toFile); err == nil {
			return fmt.Errorf("%s: %w", *toFile, restore.ErrFileExists)
		}
	}

	cfg, bk, err := src.open(ctx, e, *toTable != "")
	if err != nil {
		return err
	}
	return lock.planHeld(ctx, e, bk, at, *atFlag, *snapID, "restore", func(ctx context.Context, p catalog.Plan) error {
		return restoreTo(ctx, e, &src, cfg, bk, p, restoreTarget{
			toFile: *toFile, force: *force, toTable: *toTable, create: *create, dryRun: *dryRun, diff: *diff,
			keysFile: *keysFile, keyPrefix: *keyPrefix, skipBad: *skipBad, scanSegs: *scanSegs, keepRep: *keepRep,
			load: restore.LoadOptions{Workers: *workers, MaxWCU: *maxWCU, RetryBound: *retry},
		})
	})
}

// restoreTarget is where and how a restore writes, from the command line.
type restoreTarget struct {
	toFile, toTable, keysFile, keyPrefix string
	force, create, dryRun, diff, skipBad bool
	// keepRep keeps the replication attributes of a legacy global table in the items.
	keepRep  bool
	scanSegs int
	load     restore.LoadOptions
}

// restoreTo applies plan p to the target t.
func restoreTo(ctx context.Context, e *env, src *sourceFlags, cfg aws.Config, bk source, p catalog.Plan, t restoreTarget) error {
	m := p.Snapshot.Manifest
	if p.ReplayFrom.After(p.At) {
		fmt.Fprintf(e.stderr, "restoring snapshot %s of %s alone (%d items, finished %s): no change is replayed, each item is as the scan read it\n",
			p.Snapshot.ID, *src.table, m.ItemCount, m.FinishedAt.Format(time.RFC3339))
	} else {
		fmt.Fprintf(e.stderr, "restoring %s at %s from snapshot %s (%d items, finished %s) and %d segments replayed from %s\n",
			*src.table, p.At.Format(time.RFC3339Nano), p.Snapshot.ID, m.ItemCount, m.FinishedAt.Format(time.RFC3339), len(p.Segments), p.ReplayFrom.Format(time.RFC3339))
	}
	filter, err := keyFilter(m, t.keysFile, t.keyPrefix)
	if err != nil {
		return err
	}
	r := &runner{e: e, p: p, reader: backupReader(bk.bucket, *src.table, *src.tempDir, t.skipBad),
		opts: replay.Options{TempDir: *src.tempDir, Parallelism: *src.parallel, Filter: filter}, stripRep: !t.keepRep}
	defer r.reportStripped()

	if t.toFile != "" {
		return r.toFile(ctx, t.toFile, t.force)
	}
	db := src.aws.dynamoDB(cfg)
	if t.create {
		return r.toNewTable(ctx, db, t.toTable, t.dryRun, t.load)
	}
	return r.toExistingTable(ctx, db, t.toTable, t.dryRun, t.diff, t.scanSegs, t.load)
}

// keyFilter builds the --keys or --key-prefix filter; nil when neither is given.
func keyFilter(m *writer.Manifest, keysFile, keyPrefix string) (*replay.KeyFilter, error) {
	names := restore.KeyNames(m)
	switch {
	case keysFile != "":
		f, err := os.Open(keysFile)
		if err != nil {
			return nil, usagef("--keys: %v", err)
		}
		defer f.Close()
		kf, err := replay.ParseKeys(f, names)
		if err != nil {
			return nil, usagef("--keys %s: %v", keysFile, err)
		}
		return kf, nil
	case keyPrefix != "":
		for _, d := range m.AttributeDefinitions {
			if d.AttributeName == names[0] && d.AttributeType != "S" {
				return nil, usagef("--key-prefix needs a string partition key; %s is of type %s", names[0], d.AttributeType)
			}
		}
		return replay.PrefixFilter(names[0], keyPrefix), nil
	}
	return nil, nil
}

// runner carries one restore's plan and progress through its target.
type runner struct {
	e      *env
	p      catalog.Plan
	reader replay.Reader
	opts   replay.Options

	read, written *progress.Meter
	switchOnce    sync.Once

	// stripRep drops the aws:rep:* attributes of a legacy global table from the items
	// (both sides of a comparison); stripped counts the items that had some.
	stripRep bool
	stripped int64
}

// strip drops the replication attributes from an entry's items when asked to.
func (r *runner) strip(en *replay.Entry) error {
	if !r.stripRep {
		return nil
	}
	var err error
	var n int
	if en.HasWant {
		if en.Want, n, err = globaltable.StripAttributes(en.Want); err != nil {
			return fmt.Errorf("key %s: %w", en.Key, err)
		}
		if n > 0 {
			r.stripped++
		}
	}
	if en.HasHave {
		if en.Have, _, err = globaltable.StripAttributes(en.Have); err != nil {
			return fmt.Errorf("key %s in the table: %w", en.Key, err)
		}
	}
	return nil
}

// reportStripped says that replication attributes were dropped, and how to keep them.
func (r *runner) reportStripped() {
	if r.stripped > 0 {
		fmt.Fprintf(r.e.stderr, "dropped the %s* replication attributes of a legacy global table (version %s) from %d items (--keep-replication-attributes keeps them)\n",
			globaltable.AttributePrefix, globaltable.Version2017, r.stripped)
	}
}

func (r *runner) meter(label string, total int64) *progress.Meter {
	interval := 10 * time.Second
	if r.e.stderrIsTerminal {
		interval = 500 * time.Millisecond
	}
	return progress.New(r.e.stderr, label, total, r.e.stderrIsTerminal, interval)
}

// apply runs the merge with progress: rows read while the backup is read, then items
// handed to the target once merged entries start to flow.
func (r *runner) apply(ctx context.Context, verb string, fn func(replay.Entry) error) (replay.Stats, error) {
	r.read = r.meter("read backup", r.p.Snapshot.Manifest.ItemCount)
	r.opts.Progress = r.read
	st, err := replay.Apply(ctx, r.p, r.reader, r.opts, func(en replay.Entry) error {
		r.switchOnce.Do(func() {
			r.read.Done()
			r.written = r.meter(verb, r.p.Snapshot.Manifest.ItemCount)
		})
		if err := r.strip(&en); err != nil {
			return err
		}
		return fn(en)
	})
	r.switchOnce.Do(func() { r.read.Done() })
	if r.written != nil {
		r.written.Done()
	}
	return st, r.corruptReport(err)
}

func (r *runner) toFile(ctx context.Context, path string, force bool) error {
	out, err := restore.CreateFile(path, force)
	if err != nil {
		return err
	}
	defer out.Abort()
	_, err = r.apply(ctx, "write "+path, func(en replay.Entry) error {
		r.written.Add(1, int64(len(en.Want)))
		return out.Write(en.Want)
	})
	if err != nil {
		return err
	}
	if err := out.Commit(); err != nil {
		return err
	}
	fmt.Fprintf(r.e.stdout, "restored %d items of %s at %s to %s\n", out.Items(), r.p.Table, r.p.At.Format(time.RFC3339Nano), path)
	return nil
}

func (r *runner) toNewTable(ctx context.Context, db *dynamodb.Client, name string, dryRun bool, load restore.LoadOptions) error {
	in, err := restore.CreateTableInput(name, r.p.Snapshot.Manifest)
	if err != nil {
		return err
	}
	if dryRun {
		var n int64
		if _, err := r.apply(ctx, "count", func(en replay.Entry) error { n++; r.written.Add(1, 0); return nil }); err != nil {
			return err
		}
		fmt.Fprintf(r.e.stdout, "dry run: would create table %s and put %d items\n", name, n)
		return nil
	}
	if err := restore.CreateTable(ctx, db, in, 10*time.Minute); err != nil {
		return err
	}
	fmt.Fprintf(r.e.stderr, "created table %s\n", name)
	st, err := restore.Load(ctx, db, name, load, func(ctx context.Context, send func(restore.Write) error) error {
		_, err := r.apply(ctx, "load "+name, func(en replay.Entry) error {
			r.written.Add(1, int64(len(en.Want)))
			return send(restore.Write{Item: en.Want})
		})
		return err
	})
	if err != nil {
		return loadError(err, st)
	}
	fmt.Fprintf(r.e.stdout, "restored %d items of %s at %s into new table %s\n", st.Puts, r.p.Table, r.p.At.Format(time.RFC3339Nano), name)
	if m := r.p.Snapshot.Manifest; m.GlobalTableVersion != "" || len(m.Replicas) > 0 {
		g := globaltable.Info{Region: m.Region, Version: m.GlobalTableVersion, Replicas: m.Replicas}
		fmt.Fprintf(r.e.stderr, "%s was a %s; %s is a single-region table: add replicas with aws dynamodb update-table --table-name %s --replica-updates '[{\"Create\":{\"RegionName\":\"REGION\"}}]' (README: Global tables)\n",
			r.p.Table, g, name, name)
	}
	return nil
}

// loadError says how far a failed load got, so nobody has to guess what the table holds.
func loadError(err error, st restore.LoadStats) error {
	if errors.Is(err, restore.ErrGaveUp) {
		return err // already counts what was written
	}
	return fmt.Errorf("%w (%d puts and %d deletes written, %d not written; run the restore again into the table, without --create: it writes only what still differs)",
		err, st.Puts, st.Deletes, st.Unwritten)
}

func (r *runner) toExistingTable(ctx context.Context, db *dynamodb.Client, name string, dryRun, diff bool, scanSegs int, load restore.LoadOptions) error {
	keyNames, err := checkKeySchema(ctx, db, name, r.p.Snapshot.Manifest)
	if err != nil {
		return err
	}
	r.opts.Live = restore.LiveTable(db, name, keyNames, scanSegs)
	var counts restore.Counts
	classify := func(en replay.Entry) (restore.Action, error) {
		a, err := restore.Classify(en)
		if err != nil {
			return a, err
		}
		counts.Add(a)
		return a, nil
	}
	if dryRun {
		_, err := r.apply(ctx, "compare "+name, func(en replay.Entry) error {
			r.written.Add(1, 0)
			a, err := classify(en)
			if err != nil || !diff || a == restore.Unchanged {
				return err
			}
			_, err = fmt.Fprintf(r.e.stdout, "%s %s\n", map[restore.Action]string{restore.Insert: "+", restore.Update: "~", restore.Delete: "-"}[a], en.Key)
			return err
		})
		if err != nil {
			return err
		}
		fmt.Fprintf(r.e.stdout, "dry run: %d puts (%d new, %d changed), %d deletes, %d unchanged\n",
			counts.Inserts+counts.Updates, counts.Inserts, counts.Updates, counts.Deletes, counts.Unchanged)
		return nil
	}
	st, err := restore.Load(ctx, db, name, load, func(ctx context.Context, send func(restore.Write) error) error {
		_, err := r.apply(ctx, "sync "+name, func(en replay.Entry) error {
			r.written.Add(1, 0)
			a, err := classify(en)
			switch {
			case err != nil:
				return err
			case a == restore.Insert || a == restore.Update:
				return send(restore.Write{Item: en.Want})
			case a == restore.Delete:
				return send(restore.Write{Key: en.Key})
			}
			return nil
		})
		return err
	})
	if err != nil {
		return loadError(err, st)
	}
	fmt.Fprintf(r.e.stdout, "restored %s at %s into %s: %d puts, %d deletes, %d unchanged\n",
		r.p.Table, r.p.At.Format(time.RFC3339Nano), name, st.Puts, st.Deletes, counts.Unchanged)
	return nil
}

// checkKeySchema is restore.CheckKeySchema, with what to do when the table is missing.
func checkKeySchema(ctx context.Context, db *dynamodb.Client, name string, m *writer.Manifest) ([]string, error) {
	names, err := restore.CheckKeySchema(ctx, db, name, m)
	switch {
	case errors.Is(err, restore.ErrKeySchema):
		return nil, fmt.Errorf("%w: restore into a new table with --create", err)
	case err != nil:
		return nil, fmt.Errorf("%w (add --create to make a new one)", err)
	}
	return names, nil
}
