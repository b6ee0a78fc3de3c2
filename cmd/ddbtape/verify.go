package main

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/ddbtape/ddbtape/catalog"
	"github.com/ddbtape/ddbtape/restore"
)

const verifyUsage = "--source URL --table NAME [--scan-segments N] [--max-rcu N] [--skip-corrupt]"

// runVerify is `ddbtape verify`: the backup at the end of its restorable window against
// a live Scan of the table (restore.Verify).
func runVerify(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "verify", verifyUsage)
	var (
		src      sourceFlags
		lock     lockFlags
		corrupt  corruptFlags
		scanSegs = fs.Int("scan-segments", 4, "parallel Scan segments reading the table")
		maxRCU   = fs.Float64("max-rcu", 0, "read the table at most this many read capacity units per second (0: no cap)")
	)
	src.register(fs)
	corrupt.register(fs)
	lock.register(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := src.validate(); err != nil {
		return err
	}
	switch {
	case *scanSegs < 1:
		return usagef("--scan-segments must be at least 1")
	case *maxRCU < 0 || math.IsNaN(*maxRCU) || math.IsInf(*maxRCU, 0):
		return usagef("--max-rcu must be a non-negative number, got %g", *maxRCU)
	}
	cfg, bk, err := src.open(ctx, e, true)
	if err != nil {
		return err
	}
	db, o := src.aws.dynamoDB(cfg), src.restoreOptions(e, bk, corrupt)
	return lock.planHeld(ctx, e, bk, catalog.At{Latest: true}, "", "", "verify", func(ctx context.Context, p catalog.Plan) error {
		v, err := restore.Verify(ctx, p, db, restore.ScanOptions{Workers: *scanSegs, MaxRCU: *maxRCU}, o)
		if err != nil {
			return err
		}
		for _, x := range v.Examples {
			fmt.Fprintln(e.stdout, x)
		}
		c := v.Counts
		fmt.Fprintf(e.stdout, "verify %s at %s: %d matching, %d missing from the table, %d extra in the table, %d different\n",
			v.Table, v.At.Format(time.RFC3339Nano), c.Unchanged, c.Inserts, c.Deletes, c.Updates)
		return v.Err()
	})
}
