// Command ddbtape gives DynamoDB tables continuous backup and replay to any second.
//
// Each subcommand lives in its own file with its own flag.FlagSet. Errors reach the user
// as one line on stderr; exit status 0 is success, 1 a failure, 2 a usage error.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/ddbtape/ddbtape/progress"
	"github.com/ddbtape/ddbtape/version"
)

// command is one subcommand: it parses its own flags and runs.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, env *env, args []string) error
}

// env is what a subcommand may touch of the process: its output streams and environment.
type env struct {
	stdout, stderr io.Writer
	getenv         func(string) string
	// stderrIsTerminal tells progress reporters whether to draw a live line.
	stderrIsTerminal bool
}

func commands() []command {
	return []command{
		{"capture", "tail a table's stream into Parquet change segments", runCapture},
		{"snapshot", "take a base snapshot of a table (parallel Scan into Parquet)", runSnapshot},
		{"compact", "build a base snapshot from the newest one and the changes after it (no Scan)", runCompact},
		{"retention", "delete what no restore point inside the retention needs (once; run does it hourly)", runRetention},
		{"run", "run from a config file: capture every table, serve metrics and health", runRun},
		{"restore", "rebuild a table as it was at a time, into a table or a file", runRestore},
		{"history", "show every version of one item over a time range, with what changed and who changed it", runHistory},
		{"undo", "put keys of the live table back to before an event, an interval or a restore, never over a later write", runUndo},
		{"status", "show a backup's snapshots, restorable windows, shards and gaps", runStatus},
		{"verify", "compare the backup at its latest time with the live table", runVerify},
	}
}

func main() {
	e := &env{stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv, stderrIsTerminal: progress.IsTerminal(os.Stderr)}
	ctx, stop := stopOnSignal(e.stderr)
	code := run(ctx, e, os.Args[1:])
	stop()
	os.Exit(code)
}

// stopOnSignal returns a context that SIGINT or SIGTERM cancels, saying so on w: the
// command then stores what it read and stops. A second signal has its default effect
// (the process ends at once; what was stored and checkpointed stays, and the rest is
// read again by the next run).
func stopOnSignal(w io.Writer) (context.Context, func()) {
	ctx, cancel := context.WithCancel(context.Background())
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		select {
		case s := <-sigs:
			signal.Stop(sigs)
			fmt.Fprintf(w, "ddbtape: %s received: stopping cleanly (send it again to quit at once)\n", signalName(s))
			cancel()
		case <-done:
		}
	}()
	return ctx, func() {
		signal.Stop(sigs)
		close(done)
		cancel()
	}
}

func signalName(s os.Signal) string {
	if s == os.Interrupt {
		return "SIGINT"
	}
	if s == syscall.SIGTERM {
		return "SIGTERM"
	}
	return s.String()
}

// run executes one command line and returns the exit status.
func run(ctx context.Context, e *env, args []string) int {
	if len(args) == 1 && (args[0] == "--version" || args[0] == "-version" || args[0] == "version") {
		fmt.Fprintln(e.stdout, version.Line())
		return 0
	}
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		printUsage(e.stderr)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	for _, c := range commands() {
		if c.name != args[0] {
			continue
		}
		err := c.run(ctx, e, args[1:])
		switch {
		case err == nil, errors.Is(err, flag.ErrHelp):
			return 0
		case unconfirmed(err):
			fmt.Fprintf(e.stderr, "ddbtape %s: %v\n", c.name, err)
			return 2
		case isUsage(err):
			fmt.Fprintf(e.stderr, "ddbtape %s: %v (see 'ddbtape %s -h')\n", c.name, err, c.name)
			return 2
		default:
			fmt.Fprintf(e.stderr, "ddbtape %s: %s\n", c.name, explain(err))
			return 1
		}
	}
	fmt.Fprintf(e.stderr, "ddbtape: unknown command %q (see 'ddbtape help')\n", args[0])
	return 2
}

func printUsage(w io.Writer) {
	fmt.Fprintln(w, "usage: ddbtape <command> [flags]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "commands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-9s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Run 'ddbtape <command> -h' for a command's flags, 'ddbtape --version' for the build.")
}
