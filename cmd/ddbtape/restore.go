package main

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/ddbtape/ddbtape/catalog"
	"github.com/ddbtape/ddbtape/internal/cli"
	"github.com/ddbtape/ddbtape/replay"
	"github.com/ddbtape/ddbtape/restore"
	"github.com/ddbtape/ddbtape/writer"
)

const restoreUsage = "--source URL --table NAME (--at TIME | --snapshot ID) (--to-table NAME [--create [--via import --to-s3 s3://BUCKET/PREFIX/]] [--dry-run [--diff]] [--yes [--unguarded]] | --to-file PATH [--force] | --to-s3 URL [--force]) [--partition I/N] [--keys FILE | --key-prefix STR] [--skip-corrupt] [--keep-replication-attributes]"

func runRestore(ctx context.Context, e *cli.Env, args []string) error {
	fs := cli.NewFlagSet(e, "restore", restoreUsage)
	var src sourceFlags
	src.register(fs)
	var (
		atFlag    = fs.String("at", "", "restore the table as it was at this time: RFC 3339 (inclusive), or now/latest for the end of the restorable window")
		snapID    = fs.String("snapshot", "", "instead of --at: restore this snapshot alone, with no change replayed (a snapshot taken before the table had a stream; its items are as the scan read them)")
		toTable   = fs.String("to-table", "", "write into this table: made equal to the state at --at (with --create: a new table; an existing one is written only with --yes)")
		yes       = fs.Bool("yes", false, "with --to-table on an existing table: write the plan (without it the plan is printed, nothing is written, exit status 2)")
		unguarded = fs.Bool("unguarded", false, "with --yes: write with BatchWriteItem, faster but blind to writes made after the table was read (for a quiesced table)")
		create    = fs.Bool("create", false, "create --to-table from the snapshot's schema (keys, indexes, billing mode; no stream) and load it")
		dryRun    = fs.Bool("dry-run", false, "with --to-table: print how many items would be put, deleted and left unchanged, and write nothing")
		diff      = fs.Bool("diff", false, "with --dry-run: also print the key of every item that would change")
		toFile    = fs.String("to-file", "", "write the items to this file, one {\"Item\":...} per line in DynamoDB JSON (.gz: gzipped)")
		force     = fs.Bool("force", false, "with --to-file: replace an existing file; with --to-s3: replace a finished restore there")
		imp       importFlags
		keysFile  = fs.String("keys", "", "restore only the keys in this file, one per line as DynamoDB JSON")
		keyPrefix = fs.String("key-prefix", "", "restore only items whose partition key (a string) starts with this")
		maxWCU    = fs.Float64("max-wcu", 0, "with --to-table: write at most this many write capacity units per second (0: no cap)")
		workers   = fs.Int("write-workers", 8, "with --to-table: BatchWriteItem calls in flight")
		scanSegs  = fs.Int("scan-segments", 4, "with --to-table on an existing table: parallel Scan segments reading it")
		maxRCU    = fs.Float64("max-rcu", 0, "with --to-table on an existing table: read it at most this many read capacity units per second (0: no cap)")
		retry     = fs.Duration("retry-bound", 2*time.Minute, "how long a write batch is retried without progress before the restore stops and says so")
		partition = fs.String("partition", "", "restore only partition I of N of the keys (I/N, as 0/3): N restores, one per partition, together write what one writes (README: Restoring a very large table)")
		keepRep   = fs.Bool("keep-replication-attributes", false, "keep the aws:rep:* attributes a legacy (2017.11.29) global table keeps in its items (default: dropped)")
		lock      lockFlags
		corrupt   corruptFlags
	)
	lock.register(fs)
	corrupt.register(fs)
	imp.register(fs)
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	if err := src.validate(); err != nil {
		return err
	}
	switch {
	case *atFlag == "" && *snapID == "":
		return cli.Usagef("--at is required: an RFC 3339 time, or now/latest (or --snapshot ID to restore one snapshot alone)")
	case *atFlag != "" && *snapID != "":
		return cli.Usagef("give --at or --snapshot, not both")
	// --to-s3 goes alone, or with --to-table as --via import's staging place (imp.validate).
	case *toTable == "" && *toFile == "" && imp.toS3 == "", *toFile != "" && (*toTable != "" || imp.toS3 != ""):
		return cli.Usagef("give exactly one of --to-table and --to-file, or --to-s3")
	case *create && *toTable == "":
		return cli.Usagef("--create needs --to-table")
	case *dryRun && *toTable == "":
		return cli.Usagef("--dry-run needs --to-table")
	case *diff && !*dryRun:
		return cli.Usagef("--diff needs --dry-run")
	case *yes && (*toTable == "" || *create || *dryRun):
		return cli.Usagef("--yes is for --to-table on an existing table, without --create or --dry-run")
	case *unguarded && !*yes:
		return cli.Usagef("--unguarded needs --yes")
	case *force && *toFile == "" && imp.toS3 == "":
		return cli.Usagef("--force needs --to-file or --to-s3")
	case *keysFile != "" && *keyPrefix != "":
		return cli.Usagef("give at most one of --keys and --key-prefix")
	case *maxWCU < 0:
		return cli.Usagef("--max-wcu must not be negative")
	case *maxRCU < 0 || math.IsNaN(*maxRCU) || math.IsInf(*maxRCU, 0):
		return cli.Usagef("--max-rcu must be a non-negative number, got %g", *maxRCU)
	case *workers < 1 || *scanSegs < 1:
		return cli.Usagef("--write-workers and --scan-segments must be at least 1")
	}
	if *toTable != "" {
		if err := cli.RequireTable(*toTable); err != nil {
			return cli.Usagef("--to-table: %v", err)
		}
	}
	part, err := replay.ParsePartition(*partition)
	if err != nil {
		return cli.Usagef("--partition %v", err)
	}
	if err := imp.validate(*toTable, *toFile, *create, *dryRun, part); err != nil {
		return err
	}
	var at catalog.At
	if *snapID == "" {
		if at, err = catalog.ParseAt(*atFlag); err != nil {
			return cli.Usage(err)
		}
	}
	if *toFile != "" && !*force {
		if _, err := os.Lstat(*toFile); err == nil {
			return fmt.Errorf("%s: %w", *toFile, restore.ErrFileExists)
		}
	}
	if *toFile != "" {
		if dir := filepath.Dir(*toFile); !isDir(dir) {
			return fmt.Errorf("--to-file %s: directory %s does not exist: create it, or write elsewhere", *toFile, dir)
		}
	}

	cfg, bk, err := src.open(ctx, e, *toTable != "" || imp.s3())
	if err != nil {
		return err
	}
	var db *dynamodb.Client
	if *toTable != "" {
		db = src.aws.DynamoDB(cfg)
	}
	to := restoreTarget{
		toFile: *toFile, force: *force, toTable: *toTable, create: *create, dryRun: *dryRun, diff: *diff, yes: *yes, unguarded: *unguarded,
		source: *src.source, command: "ddbtape restore " + strings.Join(args, " "), who: restore.Who(e.Getenv),
		partition: part, imp: imp, cfg: cfg, store: &src.store, tempDir: *src.tempDir,
		scan: restore.ScanOptions{Workers: *scanSegs, MaxRCU: *maxRCU},
		load: restore.LoadOptions{Workers: *workers, MaxWCU: *maxWCU, RetryBound: *retry},
	}
	o := src.restoreOptions(e, bk, corrupt)
	o.KeepReplicationAttributes = *keepRep
	o.Partition = part
	// The key filter is built before planning, with the key of any complete snapshot
	// (every snapshot of a table has the same): a mistake in a key file is said at once.
	filtered := false
	for _, sn := range bk.listing.Snapshots {
		if sn.Manifest != nil {
			if o.Filter, err = keyFilter(sn.Manifest, *keysFile, *keyPrefix); err != nil {
				return err
			}
			filtered = true
			break
		}
	}
	return lock.planHeld(ctx, e, bk, at, *atFlag, *snapID, "restore", func(ctx context.Context, p catalog.Plan) error {
		restore.Announce(e.Stderr, p, part)
		if !filtered {
			var err error
			if o.Filter, err = keyFilter(p.Snapshot.Manifest, *keysFile, *keyPrefix); err != nil {
				return err
			}
		}
		if to.existing() {
			return to.sync(ctx, e, db, bk, p, o)
		}
		t, err := to.open(ctx, e, db, p)
		if err != nil {
			return err
		}
		res, err := restore.Run(ctx, p, t, o)
		if err != nil {
			return err
		}
		if f, ok := t.(*restore.ImportFiles); ok {
			restore.ReportImportFiles(e.Stdout, p, f, part, to.imp.via != "", !to.imp.s3())
		} else {
			restore.Report(e.Stdout, e.Stderr, p, t, res, part, *toTable)
		}
		if to.imp.via != "" {
			return to.imp.importTable(ctx, e, db, p, t.(*restore.ImportFiles), *toTable)
		}
		return nil
	})
}

// restoreTarget is where a restore writes, from the command line.
type restoreTarget struct {
	toFile, toTable             string
	force, create, dryRun, diff bool
	yes, unguarded              bool
	source, command, who        string // for the restore log
	scan                        restore.ScanOptions
	load                        restore.LoadOptions
	partition                   replay.Partition
	imp                         importFlags
	cfg                         aws.Config
	store                       *storageFlags
	tempDir                     string
}

// open makes the target the flags name for the backup of plan p.
func (to restoreTarget) open(ctx context.Context, e *cli.Env, db *dynamodb.Client, p catalog.Plan) (restore.Target, error) {
	m := p.Snapshot.Manifest
	switch {
	case to.toFile != "":
		return restore.CreateFile(to.toFile, to.force)
	case to.imp.toS3 != "":
		return to.openImportFiles(ctx, e, db, p)
	case to.create:
		t, err := restore.NewTable(db, to.toTable, m, to.load)
		switch {
		case err != nil:
			return nil, err
		case to.dryRun:
			return &restore.DryRun{}, nil
		}
		if !to.partition.Whole() {
			return t, createShared(ctx, e, t, to.partition)
		}
		if err := t.Create(ctx); err != nil {
			return nil, err
		}
		fmt.Fprintf(e.Stderr, "creating table %s: the backup is read meanwhile and written once the table is ACTIVE\n", to.toTable)
		return t, nil
	}
	return nil, fmt.Errorf("restore into the existing table %s: not a target of its own (sync)", to.toTable)
}

// keyFilter builds the --keys or --key-prefix filter; nil when neither is given.
func keyFilter(m *writer.Manifest, keysFile, keyPrefix string) (*replay.KeyFilter, error) {
	switch {
	case keysFile != "":
		f, err := os.Open(keysFile)
		if err != nil {
			return nil, cli.Usagef("--keys: %v", err)
		}
		defer f.Close()
		kf, err := restore.KeysFilter(m, f)
		if err != nil {
			return nil, cli.Usagef("--keys %s: %v", keysFile, err)
		}
		return kf, nil
	case keyPrefix != "":
		kf, err := restore.PrefixFilter(m, keyPrefix)
		if err != nil {
			return nil, cli.Usagef("--key-prefix %v", err)
		}
		return kf, nil
	}
	return nil, nil
}

// isDir reports whether path names a directory.
func isDir(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.IsDir()
}

// createShared creates the new table of a partitioned restore, or takes the one another
// partition created, and says which.
func createShared(ctx context.Context, e *cli.Env, t *restore.Table, part replay.Partition) error {
	created, err := t.CreateShared(ctx)
	switch {
	case err != nil:
		return err
	case created:
		fmt.Fprintf(e.Stderr, "created table %s (partition %s)\n", t.Name(), part)
	default:
		fmt.Fprintf(e.Stderr, "table %s exists and has the backup's key schema: taken as created by another partition of this restore (partition %s)\n", t.Name(), part)
	}
	return nil
}
