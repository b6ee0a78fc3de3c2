// Command ddbtape gives DynamoDB tables continuous backup and replay to any second.
//
// Each subcommand lives in its own file with its own flag set: it parses its flags,
// builds its clients and calls one library function. The frame (exit statuses, usage
// errors, signals) is internal/cli.
package main

import (
	"context"
	"errors"
	"os"

	"github.com/ddbtape/ddbtape/internal/cli"
	"github.com/ddbtape/ddbtape/progress"
	"github.com/ddbtape/ddbtape/restore"
	"github.com/ddbtape/ddbtape/version"
)

func commands() []cli.Command {
	return []cli.Command{
		{Name: "capture", Summary: "tail a table's stream into Parquet change segments", Run: runCapture},
		{Name: "snapshot", Summary: "take a base snapshot of a table (parallel Scan into Parquet)", Run: runSnapshot},
		{Name: "compact", Summary: "build a base snapshot from the newest one and the changes after it (no Scan)", Run: runCompact},
		{Name: "retention", Summary: "delete what no restore point inside the retention needs (once; run does it hourly)", Run: runRetention},
		{Name: "run", Summary: "run from a config file: capture every table, serve metrics and health", Run: runRun},
		{Name: "restore", Summary: "rebuild a table as it was at a time, into a table or a file", Run: runRestore},
		{Name: "history", Summary: "show every version of one item over a time range, with what changed and who changed it", Run: runHistory},
		{Name: "undo", Summary: "put keys of the live table back to before an event, an interval or a restore, never over a later write", Run: runUndo},
		{Name: "status", Summary: "show a backup's snapshots, restorable windows, shards and gaps", Run: runStatus},
		{Name: "verify", Summary: "compare the backup at its latest time with the live table", Run: runVerify},
	}
}

func main() {
	e := &cli.Env{Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv, StderrIsTerminal: progress.IsTerminal(os.Stderr)}
	ctx, stop := cli.StopOnSignal(e.Stderr, "ddbtape")
	code := run(ctx, e, os.Args[1:])
	stop()
	os.Exit(code)
}

// run executes one command line and returns the exit status.
func run(ctx context.Context, e *cli.Env, args []string) int {
	app := cli.App{Name: "ddbtape", Commands: commands(), Version: version.Line,
		// A write into a live table planned and shown but not confirmed with --yes.
		Declined: func(err error) bool { return errors.Is(err, restore.ErrNotConfirmed) }}
	return app.Run(ctx, e, args)
}
