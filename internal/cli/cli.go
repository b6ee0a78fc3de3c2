// Package cli is ddbtape's command-line frame: the process's streams, the subcommands
// and their exit statuses, usage errors, flag parsing as the README writes flags, and the
// stop on SIGINT or SIGTERM. The commands themselves are in cmd/ddbtape.
//
// Errors reach the user as one line on stderr; exit status 0 is success, 1 a failure,
// 2 a usage error or a plan that was shown and not confirmed.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
)

// Env is what a subcommand may touch of the process: its output streams and environment.
type Env struct {
	Stdout, Stderr io.Writer
	Getenv         func(string) string
	// StderrIsTerminal tells progress reporters whether to draw a live line.
	StderrIsTerminal bool
}

// Command is one subcommand: it parses its own flags and runs.
type Command struct {
	Name    string
	Summary string
	Run     func(ctx context.Context, e *Env, args []string) error
}

// App is a program of subcommands.
type App struct {
	Name     string
	Commands []Command
	// Version is the line --version prints.
	Version func() string
	// Declined reports an error that is a plan shown and not confirmed (exit status 2,
	// without the usage hint).
	Declined func(error) bool
}

// Run executes one command line and returns the exit status.
func (a App) Run(ctx context.Context, e *Env, args []string) int {
	if len(args) == 1 && (args[0] == "--version" || args[0] == "-version" || args[0] == "version") {
		fmt.Fprintln(e.Stdout, a.Version())
		return 0
	}
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		a.printUsage(e.Stderr)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	for _, c := range a.Commands {
		if c.Name != args[0] {
			continue
		}
		err := c.Run(ctx, e, args[1:])
		switch {
		case err == nil, errors.Is(err, flag.ErrHelp):
			return 0
		case a.Declined != nil && a.Declined(err):
			fmt.Fprintf(e.Stderr, "%s %s: %v\n", a.Name, c.Name, err)
			return 2
		case IsUsage(err):
			fmt.Fprintf(e.Stderr, "%s %s: %v (see '%s %s -h')\n", a.Name, c.Name, err, a.Name, c.Name)
			return 2
		default:
			fmt.Fprintf(e.Stderr, "%s %s: %s\n", a.Name, c.Name, Explain(err))
			return 1
		}
	}
	fmt.Fprintf(e.Stderr, "%s: unknown command %q (see '%s help')\n", a.Name, args[0], a.Name)
	return 2
}

func (a App) printUsage(w io.Writer) {
	fmt.Fprintf(w, "usage: %s <command> [flags]\n\ncommands:\n", a.Name)
	for _, c := range a.Commands {
		fmt.Fprintf(w, "  %-9s %s\n", c.Name, c.Summary)
	}
	fmt.Fprintf(w, "\nRun '%s <command> -h' for a command's flags, '%s --version' for the build.\n", a.Name, a.Name)
}
