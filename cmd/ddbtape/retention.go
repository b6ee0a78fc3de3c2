package main

import (
	"context"
	"fmt"
	"time"

	"github.com/ddbtape/ddbtape/config"
	"github.com/ddbtape/ddbtape/retention"
)

const retentionUsage = "--source URL --table NAME --keep DURATION [--checkpoint URL] [--object-lock-mode MODE --object-lock-for DURATION]"

// runRetention is `ddbtape retention`: one retention run (what `ddbtape run` does about
// hourly with retention set), for a job of its own with the maintenance role while the
// capture process holds no permission to delete.
func runRetention(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "retention", retentionUsage)
	var (
		src  sourceFlags
		logs logFlags
		keep time.Duration
	)
	src.register(fs)
	src.store.registerLock(fs)
	logs.register(fs)
	fs.Func("keep", "how far back restore points are kept, e.g. 90d (required); what only older ones need is deleted", func(v string) (err error) {
		keep, err = config.ParseDuration(v)
		return err
	})
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := src.validate(); err != nil {
		return err
	}
	if keep <= 0 {
		return usagef("--keep is required: how far back restore points are kept, e.g. 90d")
	}
	log, err := logs.logger(e)
	if err != nil {
		return err
	}
	_, bk, err := src.open(ctx, e, false)
	if err != nil {
		return err
	}
	res, err := retention.Run(ctx, bk.cat, retention.Config{Retention: keep, Logger: log})
	if err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, retentionSummary(*src.table, res))
	return nil
}

func retentionSummary(table string, r retention.Result) string {
	if r.NothingRestorable {
		return fmt.Sprintf("retention of %s: nothing is restorable at or after %s, so nothing was deleted", table, r.Horizon.Format(time.RFC3339))
	}
	s := fmt.Sprintf("retention of %s: restore points kept from %s; deleted %d objects (%d bytes): %d snapshots, %d segments",
		table, r.Horizon.Format(time.RFC3339), r.Deleted, r.DeletedBytes, len(r.Snapshots), len(r.Segments))
	if r.Locked > 0 || len(r.KeptByLock) > 0 {
		s += fmt.Sprintf("; S3 Object Lock holds %d more objects until %s and snapshots %v whole: a later run deletes them", r.Locked, r.LockedUntil.Format(time.RFC3339), r.KeptByLock)
	}
	if r.Deferred {
		s += "; a reader started while deciding, so this run deleted nothing"
	}
	if r.Ledger.Replaced > 0 {
		s += fmt.Sprintf("; ledger: %d objects consolidated", r.Ledger.Replaced)
	}
	return s
}
