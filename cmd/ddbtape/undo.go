package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ddbtape/ddbtape/catalog"
	"github.com/ddbtape/ddbtape/history"
	"github.com/ddbtape/ddbtape/internal/cli"
	"github.com/ddbtape/ddbtape/progress"
	"github.com/ddbtape/ddbtape/restore"
	"github.com/ddbtape/ddbtape/undo"
)

const undoUsage = "--source URL --table NAME (--event ID | --from TIME --to TIME | --restore ID) [--dry-run] [--yes] [--overwrite-later]"

func runUndo(ctx context.Context, e *cli.Env, args []string) error {
	fs := cli.NewFlagSet(e, "undo", undoUsage)
	var src sourceFlags
	src.register(fs)
	var (
		event     = fs.String("event", "", "undo this stored change (its event id, as ddbtape history prints it): its key goes back to its state just before it")
		from      = fs.String("from", "", "with --to: undo every change stamped in [--from, --to] (RFC 3339): each key they changed goes back to its state before --from")
		to        = fs.String("to", "", "the end of the interval, inclusive (RFC 3339)")
		restoreID = fs.String("restore", "", "undo what a restore or undo into the table wrote (its restore log id, as it printed it and ddbtape status lists it)")
		dryRun    = fs.Bool("dry-run", false, "print the plan and write nothing")
		yes       = fs.Bool("yes", false, "write the plan (without it the plan is printed, nothing is written, exit status 2)")
		overwrite = fs.Bool("overwrite-later", false, "put keys back even when they were written again after the undone writes (default: such a key is a conflict, listed and left alone)")
		maxWCU    = fs.Float64("max-wcu", 0, "write at most this many write capacity units per second (0: no cap)")
		workers   = fs.Int("write-workers", 8, "writes in flight")
		lock      lockFlags
	)
	lock.register(fs)
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	if err := src.validate(); err != nil {
		return err
	}
	req := undo.Request{Event: *event, RestoreID: *restoreID, DryRun: *dryRun, Yes: *yes,
		Command: "ddbtape undo " + strings.Join(args, " "), Who: restore.Who(e.Getenv), TempDir: *src.tempDir}
	modes := 0
	for _, set := range []bool{*event != "", *from != "" || *to != "", *restoreID != ""} {
		if set {
			modes++
		}
	}
	switch {
	case modes != 1:
		return cli.Usagef("give exactly one of --event ID, --from TIME --to TIME, and --restore ID")
	case *dryRun && *yes:
		return cli.Usagef("give --dry-run or --yes, not both")
	case *workers < 1 || *maxWCU < 0:
		return cli.Usagef("--write-workers must be at least 1 and --max-wcu not negative")
	case *from != "" || *to != "":
		var err error
		if req.From, req.To, err = undoInterval(*from, *to); err != nil {
			return err
		}
	}
	cfg, bk, err := src.open(ctx, e, true)
	if err != nil {
		return err
	}
	o := src.restoreOptions(e, bk, corruptFlags{})
	req.Options = undo.Options{Reader: o.Reader, Hold: catalog.PlanOptions{NoLock: lock.noLock}, Parallelism: *src.parallel, Overwrite: *overwrite}
	req.Guard = restore.GuardOptions{Workers: *workers, MaxWCU: *maxWCU}
	req.Show = func(p undo.Plan) {
		if len(p.Steps) == 0 {
			fmt.Fprintln(e.Stdout, "nothing to undo: no key changed")
			return
		}
		p.WriteText(e.Stdout)
	}
	read := o.Meter("read backup", "rows", 0)
	req.Progress = read
	var write restore.Meter
	if *yes {
		write = o.Meter("write "+*src.table, "items", 0)
		req.Guard.Progress = write
	}
	res, err := undo.Run(ctx, bk.cat, src.aws.DynamoDB(cfg), *src.table, req)
	if err == nil {
		read.Done()
		if write != nil {
			write.Done()
		}
	}
	switch {
	case errors.Is(err, history.ErrNoEvent), errors.Is(err, restore.ErrNoLog):
		return cli.Usagef("%v", err)
	case err != nil:
		return err
	case *dryRun || len(res.Plan.Steps) == 0:
		return nil
	}
	w := res.Written
	fmt.Fprintf(e.Stdout, "undone in %s: %s, %s, %s left alone\n", *src.table, progress.Count(w.Puts, "put"), progress.Count(w.Deletes, "delete"), progress.Count(len(w.Conflicts), "conflict"))
	restore.PrintConflicts(e.Stdout, w.Conflicts)
	if res.LogID != "" {
		fmt.Fprintf(e.Stdout, "restore log %s; to revert these writes: ddbtape undo --source %s --table %s --restore %s --yes\n", res.LogID, *src.source, *src.table, res.LogID)
	}
	return nil
}

// undoInterval reads --from and --to, both required together.
func undoInterval(from, to string) (time.Time, time.Time, error) {
	if from == "" || to == "" {
		return time.Time{}, time.Time{}, cli.Usagef("--from and --to go together")
	}
	var ts [2]time.Time
	for i, v := range []string{from, to} {
		at, err := catalog.ParseAt(v)
		if err != nil || at.Latest {
			return time.Time{}, time.Time{}, cli.Usagef("--%s %q is not a time: give RFC 3339 such as 2026-03-01T10:42:16Z", []string{"from", "to"}[i], v)
		}
		ts[i] = at.Time
	}
	if ts[1].Before(ts[0]) {
		return time.Time{}, time.Time{}, cli.Usagef("--to %s is before --from %s", to, from)
	}
	return ts[0], ts[1], nil
}
