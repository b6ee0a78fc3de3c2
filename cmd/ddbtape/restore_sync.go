package main

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/ddbtape/ddbtape/catalog"
	"github.com/ddbtape/ddbtape/internal/cli"
	"github.com/ddbtape/ddbtape/progress"
	"github.com/ddbtape/ddbtape/restore"
)

// existing reports whether the flags name an existing table to write into.
func (to restoreTarget) existing() bool { return to.toTable != "" && !to.create }

// sync restores into the existing table: the plan first, written only with --yes.
func (to restoreTarget) sync(ctx context.Context, e *cli.Env, db *dynamodb.Client, bk source, p catalog.Plan, o restore.Options) error {
	m := p.Snapshot.Manifest
	t, err := restore.ExistingTable(ctx, db, to.toTable, m, to.scan, to.load)
	if err != nil {
		return err
	}
	self := to.toTable == p.Table
	if self {
		fmt.Fprintf(e.Stderr, "WARNING: %s is the backed-up table itself: this restore rewrites the live table\n", to.toTable)
	}
	at := p.At.Format(time.RFC3339Nano)
	so := restore.SyncOptions{
		Options: o, DryRun: to.dryRun, Yes: to.yes, Unguarded: to.unguarded, Load: to.load,
		Guard: restore.GuardOptions{KeyNames: restore.KeyNames(m), Workers: to.load.Workers, MaxWCU: to.load.MaxWCU, RetryBound: to.load.RetryBound},
		Show: func(c restore.Counts) {
			if to.dryRun {
				fmt.Fprintf(e.Stdout, "dry run: %s\n", restore.PlanCounts(c))
				return
			}
			fmt.Fprintf(e.Stdout, "plan: restore %s at %s into %s: %s\n", p.Table, at, to.toTable, restore.PlanCounts(c))
			if self {
				fmt.Fprintf(e.Stdout, "WARNING: %s is the backed-up table itself; the writes go into the live table\n", to.toTable)
			}
		},
	}
	if to.diff {
		so.Diff = e.Stdout
	}
	if self && to.yes {
		// The table is captured into this backup: what the restore writes is recorded
		// beside it, so that undo --restore can revert it.
		if so.Log, err = restore.NewLog(bk.bucket, p.Table, to.command, to.who, o.TempDir); err != nil {
			return err
		}
	}
	res, err := restore.Sync(ctx, p, t, db, so)
	if err != nil && so.Log != nil && so.Log.Written() > 0 {
		fmt.Fprintf(e.Stderr, "restore log %s records what was written; to revert it: ddbtape undo --source %s --table %s --restore %s --yes\n", so.Log.ID(), to.source, p.Table, so.Log.ID())
	}
	if err != nil || to.dryRun {
		return err
	}
	w := res.Written
	mode := "guarded"
	if to.unguarded {
		mode = "unguarded"
	}
	fmt.Fprintf(e.Stdout, "restored %s at %s into %s: %s, %s, %s unchanged, %s (%s)\n",
		p.Table, at, t.Name(), progress.Count(w.Puts, "put"), progress.Count(w.Deletes, "delete"), progress.Number(res.Counts.Unchanged), progress.Count(len(w.Conflicts), "conflict"), mode)
	restore.PrintConflicts(e.Stdout, w.Conflicts)
	if so.Log != nil && so.Log.Written() > 0 {
		fmt.Fprintf(e.Stdout, "restore log %s; to revert these writes: ddbtape undo --source %s --table %s --restore %s --yes\n", so.Log.ID(), to.source, p.Table, so.Log.ID())
	}
	return nil
}
