package main

import (
	"context"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/ddbtape/ddbtape/catalog"
	"github.com/ddbtape/ddbtape/config"
	"github.com/ddbtape/ddbtape/internal/cli"
	"github.com/ddbtape/ddbtape/replay"
	"github.com/ddbtape/ddbtape/restore"
	"github.com/ddbtape/ddbtape/storage"
)

// importFlags are restore's flags for AWS's Import from S3: --to-s3 writes its input
// files, --via import has Import create the table from them.
type importFlags struct {
	toS3     string
	via      string
	fileSize int64
	poll     time.Duration
}

func (f *importFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.toS3, "to-s3", "", "write the items as Import-from-S3 files (gzip, {\"Item\":...} per line) under this s3://bucket/prefix/ or directory, with manifest.json and the aws dynamodb import-table command; with --via import, where the files go")
	fs.StringVar(&f.via, "via", "", "with --to-table --create: import to have AWS's Import from S3 create and load the table from --to-s3 files (no write capacity used; billed on the files' size)")
	fs.Func("file-size", "with --to-s3: the most uncompressed bytes per file, as 256MiB, 1GiB or a number (default 256MiB)", func(v string) (err error) {
		f.fileSize, err = config.ParseByteSize(v)
		return err
	})
	fs.DurationVar(&f.poll, "import-poll", 15*time.Second, "with --via import: how often DescribeImport is asked for the import's progress")
}

// s3 reports whether the files go to S3.
func (f *importFlags) s3() bool { return strings.HasPrefix(f.toS3, "s3://") }

func (f *importFlags) validate(toTable, toFile string, create, dryRun bool, part replay.Partition) error {
	switch {
	case f.via != "" && f.via != "import":
		return cli.Usagef("--via takes import, got %q (without --via, --create loads the table with BatchWriteItem)", f.via)
	case f.via != "" && (toTable == "" || !create):
		return cli.Usagef("--via import needs --to-table NAME --create: Import from S3 creates a new table")
	case f.via != "" && !f.s3():
		return cli.Usagef("--via import needs --to-s3 s3://BUCKET/PREFIX/, where the files for the import go")
	case f.via != "" && dryRun:
		return cli.Usagef("--via import cannot --dry-run: run --to-s3 alone to see the files and the command")
	case f.via != "" && !part.Whole():
		return cli.Usagef("--via import imports once for the whole table: write the partitions with --to-s3 URL --partition I/N, then run the import command their manifests print")
	case f.via == "" && f.toS3 != "" && (toTable != "" || toFile != ""):
		return cli.Usagef("give exactly one of --to-table and --to-file, or --to-s3 (--to-s3 with --to-table needs --via import)")
	case f.fileSize < 0 || f.fileSize != 0 && f.fileSize < 1<<20:
		return cli.Usagef("--file-size must be at least 1MiB")
	case f.poll <= 0:
		return cli.Usagef("--import-poll must be positive")
	}
	if f.toS3 != "" {
		if _, err := storage.ParseURL(f.toS3); err != nil {
			return cli.Usagef("--to-s3: %v", err)
		}
	}
	return nil
}

// openImportFiles starts the files of restore --to-s3 for plan p: the table to create is
// --to-table with --via import (which refuses local secondary indexes before anything is
// read, and a table that exists), else <table>-restored in the command, LSIs left out.
func (to restoreTarget) openImportFiles(ctx context.Context, e *cli.Env, db *dynamodb.Client, p catalog.Plan) (*restore.ImportFiles, error) {
	m := p.Snapshot.Manifest
	var spec restore.TableCreation
	var leftOut []string
	var err error
	if to.imp.via != "" {
		spec, err = restore.ImportCreation(to.toTable, m)
		leftOut = restore.ImportLeavesOut(m)
	} else {
		spec, leftOut, err = restore.ImportFilesCreation(p.Table+"-restored", m)
	}
	if err != nil {
		return nil, err
	}
	if to.imp.via != "" {
		if err := restore.CheckImportTarget(ctx, db, to.toTable); err != nil {
			return nil, err
		}
	}
	loc, err := storage.ParseURL(to.imp.toS3)
	if err != nil {
		return nil, cli.Usagef("--to-s3: %v", err)
	}
	bucket, err := to.store.Bucket(ctx, to.cfg, to.imp.toS3)
	if err != nil {
		return nil, err
	}
	t, cleaned, err := restore.CreateImportFiles(ctx, bucket, spec, leftOut, restore.ImportFileOptions{
		SpoolDir: to.tempDir, FileBytes: to.imp.fileSize, Partition: to.partition, Force: to.force,
		Source:   restore.ImportSource{Table: p.Table, At: p.At, SnapshotID: p.Snapshot.ID},
		S3Bucket: loc.Bucket, S3Prefix: loc.Prefix,
	})
	if err != nil {
		return nil, err
	}
	if cleaned > 0 {
		fmt.Fprintf(e.Stderr, "deleted %d files an interrupted restore left under %s\n", cleaned, storage.URL(bucket, restore.ImportDataPrefix))
	}
	return t, nil
}

// importTable has Import from S3 create and load table name from the files of t, follows
// it to its end, and says what the imported table lacks.
func (f importFlags) importTable(ctx context.Context, e *cli.Env, db *dynamodb.Client, p catalog.Plan, t *restore.ImportFiles, name string) error {
	loc, err := storage.ParseURL(f.toS3)
	if err != nil {
		return cli.Usagef("--to-s3: %v", err)
	}
	m := t.Manifest()
	in := m.Table.Input(loc.Bucket, loc.Prefix+restore.ImportDataPrefix, "")
	last := ""
	st, err := restore.Import(ctx, db, in, restore.ImportOptions{Poll: f.poll, Items: m.Items, Progress: func(s restore.ImportState) {
		line := fmt.Sprintf("import %s: %s, %d of %d items processed, %d imported, %d errors", s.ImportARN, s.Status, s.Processed, m.Items, s.Imported, s.Errors)
		if line != last {
			fmt.Fprintln(e.Stderr, line)
			last = line
		}
	}})
	if err != nil {
		return err
	}
	fmt.Fprintf(e.Stdout, "imported %d items of %s at %s into new table %s through Import from S3 (%s)\n", st.Imported, p.Table, p.At.Format(time.RFC3339Nano), name, st.ImportARN)
	fmt.Fprintf(e.Stderr, "Import from S3 does not carry over, so set again on %s as needed:\n", name)
	for _, l := range m.LeftOut {
		fmt.Fprintf(e.Stderr, "  %s\n", strings.ReplaceAll(l, "NAME", name))
	}
	return nil
}
