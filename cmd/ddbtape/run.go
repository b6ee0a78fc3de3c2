package main

import (
	"context"
	"flag"
	"fmt"

	"github.com/ddbtape/ddbtape/config"
	"github.com/ddbtape/ddbtape/internal/cli"
	"github.com/ddbtape/ddbtape/sidecar"
)

const runUsage = "--config FILE [--check]"

// DefaultConfigPath is where the container image and the deploy manifests put the file.
const DefaultConfigPath = "/etc/ddbtape/ddbtape.yaml"

// runOptions are the flags of `ddbtape run`; everything else is in the config file.
type runOptions struct {
	config string
	check  bool
}

// runFlags builds the run command's flag set (the deploy tests parse the manifests'
// container arguments with it).
func runFlags(e *cli.Env) (*flag.FlagSet, *runOptions) {
	fs := cli.NewFlagSet(e, "run", runUsage)
	o := &runOptions{}
	fs.StringVar(&o.config, "config", "", "the YAML configuration file (required; see deploy/ddbtape.yaml, e.g. "+DefaultConfigPath+")")
	fs.BoolVar(&o.check, "check", false, "load and validate the configuration, print a summary and exit")
	return fs, o
}

// runRun is `ddbtape run` (package sidecar): it captures every configured table, serves
// /metrics, /healthz and /readyz, and on SIGTERM or SIGINT stops reading, stores and
// checkpoints what it read and exits 0 within the configured grace period.
func runRun(ctx context.Context, e *cli.Env, args []string) error {
	fs, o := runFlags(e)
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	if o.config == "" {
		return cli.Usagef("--config is required (e.g. --config %s)", DefaultConfigPath)
	}
	cfg, err := config.Load(o.config, e.Getenv)
	if err != nil {
		// Every mistake in the file is the user's to fix: a usage error, one line.
		return cli.Usage(err)
	}
	if o.check {
		fmt.Fprintf(e.Stdout, "config %s: ok: %s\n", o.config, cfg)
		return nil
	}
	log, err := (&cli.LogFlags{Level: cfg.Log.Level, Format: cfg.Log.Format}).Logger(e)
	if err != nil {
		return err
	}
	return sidecar.Run(ctx, cfg, o.config, log)
}
