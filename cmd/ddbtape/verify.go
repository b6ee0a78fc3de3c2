package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/ddbtape/ddbtape/catalog"
	"github.com/ddbtape/ddbtape/replay"
	"github.com/ddbtape/ddbtape/restore"
	"github.com/ddbtape/ddbtape/verify"
)

const verifyUsage = "--source URL --table NAME [--skip-corrupt] | --source URL --table NAME --objects"

// errVerifyDiffers is returned when the backup and the table disagree: exit status 1.
var errVerifyDiffers = errors.New("the backup does not match the table")

// verifyExamples bounds how many differing keys verify prints.
const verifyExamples = 20

func runVerify(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "verify", verifyUsage)
	var src sourceFlags
	src.register(fs)
	scanSegs := fs.Int("scan-segments", 4, "parallel Scan segments reading the table")
	skipBad := fs.Bool("skip-corrupt", false, skipCorruptUsage)
	objects := fs.Bool("objects", false, "check every object of the backup against its recorded size and SHA-256 (a segment's in the ledger, a part's in its manifest), without reading the table; print counts")
	var lock lockFlags
	lock.register(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := src.validate(); err != nil {
		return err
	}
	if *scanSegs < 1 {
		return usagef("--scan-segments must be at least 1")
	}
	if *objects {
		return verifyObjects(ctx, e, &src)
	}
	cfg, bk, err := src.open(ctx, e, true)
	if err != nil {
		return err
	}
	return lock.planHeld(ctx, e, bk, catalog.At{Latest: true}, "", "", "verify", func(ctx context.Context, p catalog.Plan) error {
		return verifyAt(ctx, e, &src, cfg, bk, p, *scanSegs, *skipBad)
	})
}

// verifyAt compares the backup's state p with a live Scan of the table.
func verifyAt(ctx context.Context, e *env, src *sourceFlags, cfg aws.Config, bk source, p catalog.Plan, scanSegs int, skipBad bool) error {
	db := src.aws.dynamoDB(cfg)
	m := p.Snapshot.Manifest
	keyNames, err := checkKeySchema(ctx, db, *src.table, m)
	if err != nil {
		return err
	}
	r := &runner{e: e, p: p, reader: backupReader(bk.bucket, *src.table, *src.tempDir, skipBad),
		opts: replay.Options{TempDir: *src.tempDir, Parallelism: *src.parallel, Live: restore.LiveTable(db, *src.table, keyNames, scanSegs)}}
	var counts restore.Counts
	examples := 0
	_, err = r.apply(ctx, "compare "+*src.table, func(en replay.Entry) error {
		r.written.Add(1, 0)
		a, err := restore.Classify(en)
		if err != nil {
			return err
		}
		counts.Add(a)
		if a != restore.Unchanged && examples < verifyExamples {
			examples++
			fmt.Fprintf(e.stdout, "%s %s\n", map[restore.Action]string{restore.Insert: "missing", restore.Update: "different", restore.Delete: "extra"}[a], en.Key)
		}
		return nil
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "verify %s at %s: %d matching, %d missing from the table, %d extra in the table, %d different\n",
		*src.table, p.At.Format(time.RFC3339Nano), counts.Unchanged, counts.Inserts, counts.Deletes, counts.Updates)
	if n := r.skippedFiles(); n > 0 {
		return fmt.Errorf("the backup is damaged: %s skipped (listed above); replace them from a copy of the backup, or take a new snapshot", corruptFiles(n))
	}
	if counts.Inserts+counts.Deletes+counts.Updates > 0 {
		return fmt.Errorf("%w at %s: %d missing, %d extra, %d different (writes after the backup's window end show as differences; run capture, then verify again)",
			errVerifyDiffers, p.At.Format(time.RFC3339), counts.Inserts, counts.Deletes, counts.Updates)
	}
	return nil
}

// verifyObjects is verify --objects: every object of the backup checked (verify.Objects),
// DynamoDB untouched.
func verifyObjects(ctx context.Context, e *env, src *sourceFlags) error {
	b, err := src.bucket(ctx, e)
	if err != nil {
		return err
	}
	r, err := verify.Objects(ctx, b, *src.table, *src.tempDir)
	if err != nil {
		return err
	}
	fmt.Fprint(e.stdout, r.Summary())
	for _, p := range r.Problems {
		fmt.Fprintln(e.stdout, "problem: "+p)
	}
	if !r.OK() {
		return fmt.Errorf("the backup of %s has %d damaged or missing files (listed above): replace them from a copy of the backup, or take a new snapshot so that restores from then on do not need them", *src.table, len(r.Problems))
	}
	return nil
}
