package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ddbtape/ddbtape/catalog"
	"github.com/ddbtape/ddbtape/compact"
	"github.com/ddbtape/ddbtape/internal/cli"
	"github.com/ddbtape/ddbtape/progress"
	"github.com/ddbtape/ddbtape/writer"
)

const compactUsage = "--source URL --table NAME [--at TIME] [--checkpoint URL] [--temp-dir DIR]"

// runCompact is `ddbtape compact`: build a new base snapshot from the newest snapshot and
// the change segments after it, without reading the table (what `ddbtape run` does every
// compaction.every). Later restores start from it and replay less.
func runCompact(ctx context.Context, e *cli.Env, args []string) error {
	fs := cli.NewFlagSet(e, "compact", compactUsage)
	var (
		src       sourceFlags
		logs      cli.LogFlags
		parts     = writer.DefaultPartPolicy()
		atFlag    = fs.String("at", "latest", "the time whose state the new snapshot holds: RFC 3339, or now/latest for the end of the restorable window")
		partRows  = fs.Int("part-rows", parts.MaxRows, "cut a Parquet part after this many items")
		partBytes = fs.Int64("part-bytes", parts.MaxBytes, "cut a Parquet part after this many bytes of items")
	)
	src.register(fs)
	src.store.registerLock(fs)
	logs.Register(fs)
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	if err := src.validate(); err != nil {
		return err
	}
	policy := writer.PartPolicy{MaxRows: *partRows, MaxBytes: *partBytes}
	if err := policy.Validate(); err != nil {
		return cli.Usage(err)
	}
	at, err := catalog.ParseAt(*atFlag)
	if err != nil {
		return cli.Usage(err)
	}
	log, err := logs.Logger(e)
	if err != nil {
		return err
	}
	_, bk, err := src.open(ctx, e, false)
	if err != nil {
		return err
	}
	res, err := compact.Run(ctx, catalog.New(bk.bucket, *src.table, bk.checkpoints), compact.Config{
		At: at.Time, Part: policy, SpoolDir: *src.tempDir, Parallelism: *src.parallel, Logger: log,
	})
	if errors.Is(err, compact.ErrUpToDate) {
		fmt.Fprintf(e.Stderr, "nothing to compact: %v\n", err)
		return nil
	}
	if err != nil {
		return err
	}
	m := res.Manifest
	fmt.Fprintf(e.Stdout, "snapshot %s of %s at %s: %s in %s, from snapshot %s and %s (%s replayed)\n",
		m.SnapshotID, m.TableName, m.FinishedAt.Format(time.RFC3339Nano), progress.Count(m.ItemCount, "item"), progress.Count(len(m.Parts), "part"),
		res.Base, progress.Count(res.Stats.Segments, "segment"), progress.Count(res.Stats.Replayed, "change"))
	return nil
}
