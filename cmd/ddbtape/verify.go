package main

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/ddbtape/ddbtape/catalog"
	"github.com/ddbtape/ddbtape/internal/cli"
	"github.com/ddbtape/ddbtape/restore"
	"github.com/ddbtape/ddbtape/verify"
)

const verifyUsage = "--source URL --table NAME [--scan-segments N] [--max-rcu N] [--skip-corrupt] | --source URL --table NAME --objects"

// runVerify is `ddbtape verify`: the backup at the end of its restorable window against
// a live Scan of the table (restore.Verify).
func runVerify(ctx context.Context, e *cli.Env, args []string) error {
	fs := cli.NewFlagSet(e, "verify", verifyUsage)
	var (
		src      sourceFlags
		lock     lockFlags
		corrupt  corruptFlags
		scanSegs = fs.Int("scan-segments", 4, "parallel Scan segments reading the table")
		objects  = fs.Bool("objects", false, "check every object of the backup against its recorded size and SHA-256 (a segment's in the ledger, a part's in its manifest), without reading the table; print counts")
		maxRCU   = fs.Float64("max-rcu", 0, "read the table at most this many read capacity units per second (0: no cap)")
	)
	src.register(fs)
	corrupt.register(fs)
	lock.register(fs)
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	if err := src.validate(); err != nil {
		return err
	}
	switch {
	case *scanSegs < 1:
		return cli.Usagef("--scan-segments must be at least 1")
	case *maxRCU < 0 || math.IsNaN(*maxRCU) || math.IsInf(*maxRCU, 0):
		return cli.Usagef("--max-rcu must be a non-negative number, got %g", *maxRCU)
	}
	if *objects {
		return verifyObjects(ctx, e, &src)
	}
	cfg, bk, err := src.open(ctx, e, true)
	if err != nil {
		return err
	}
	db, o := src.aws.DynamoDB(cfg), src.restoreOptions(e, bk, corrupt)
	return lock.planHeld(ctx, e, bk, catalog.At{Latest: true}, "", "", "verify", func(ctx context.Context, p catalog.Plan) error {
		v, err := restore.Verify(ctx, p, db, restore.ScanOptions{Workers: *scanSegs, MaxRCU: *maxRCU}, o)
		if err != nil {
			return err
		}
		for _, x := range v.Examples {
			fmt.Fprintln(e.Stdout, x)
		}
		c := v.Counts
		fmt.Fprintf(e.Stdout, "verify %s at %s: %d matching, %d missing from the table, %d extra in the table, %d different\n",
			v.Table, v.At.Format(time.RFC3339Nano), c.Unchanged, c.Inserts, c.Deletes, c.Updates)
		return v.Err()
	})
}

// verifyObjects is verify --objects: every object of the backup checked (verify.Objects),
// DynamoDB untouched.
func verifyObjects(ctx context.Context, e *cli.Env, src *sourceFlags) error {
	b, err := src.bucket(ctx, e)
	if err != nil {
		return err
	}
	r, err := verify.Objects(ctx, b, *src.table, *src.tempDir)
	if err != nil {
		return err
	}
	fmt.Fprint(e.Stdout, r.Summary())
	for _, p := range r.Problems {
		fmt.Fprintln(e.Stdout, "problem: "+p)
	}
	if !r.OK() {
		return fmt.Errorf("the backup of %s has %d damaged or missing files (listed above): replace them from a copy of the backup, or take a new snapshot so that restores from then on do not need them", *src.table, len(r.Problems))
	}
	return nil
}
