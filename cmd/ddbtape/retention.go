package main

import (
	"context"
	"fmt"
	"time"

	"github.com/ddbtape/ddbtape/config"
	"github.com/ddbtape/ddbtape/internal/cli"
	"github.com/ddbtape/ddbtape/retention"
)

const retentionUsage = "--source URL --table NAME --keep DURATION [--checkpoint URL] [--object-lock-mode MODE --object-lock-for DURATION]"

// runRetention is `ddbtape retention`: one retention run (what `ddbtape run` does about
// hourly with retention set), for a job of its own with the maintenance role while the
// capture process holds no permission to delete.
func runRetention(ctx context.Context, e *cli.Env, args []string) error {
	fs := cli.NewFlagSet(e, "retention", retentionUsage)
	var (
		src  sourceFlags
		logs cli.LogFlags
		keep time.Duration
	)
	src.register(fs)
	src.store.registerLock(fs)
	logs.Register(fs)
	fs.Func("keep", "how far back restore points are kept, e.g. 90d (required); what only older ones need is deleted", func(v string) (err error) {
		keep, err = config.ParseDuration(v)
		return err
	})
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	if err := src.validate(); err != nil {
		return err
	}
	if keep <= 0 {
		return cli.Usagef("--keep is required: how far back restore points are kept, e.g. 90d")
	}
	log, err := logs.Logger(e)
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
	fmt.Fprintln(e.Stdout, res.Summary(*src.table))
	return nil
}
