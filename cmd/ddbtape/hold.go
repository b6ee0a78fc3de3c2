package main

import (
	"context"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/ddbtape/ddbtape/catalog"
	"github.com/ddbtape/ddbtape/internal/cli"
)

// lockFlags choose whether a reader holds a retention lock while it reads a backup.
type lockFlags struct{ noLock bool }

func (l *lockFlags) register(fs *flag.FlagSet) {
	fs.BoolVar(&l.noLock, "no-lock", false, "read without a retention lock (for a read-only --source); a retention run meanwhile may delete files this needs, and the command then fails naming them")
}

// planHeld plans at (or snapshot id alone) and runs fn with the plan under a retention
// lock (catalog.PlanHeld); it prints which time "latest" meant when atText, the word the
// user gave, is not empty.
func (l *lockFlags) planHeld(ctx context.Context, e *cli.Env, bk source, at catalog.At, atText, snapshotID, purpose string, fn func(ctx context.Context, p catalog.Plan) error) error {
	o := catalog.PlanOptions{NoLock: l.noLock, Snapshot: snapshotID, HoldOptions: catalog.HoldOptions{Purpose: purpose}}
	return bk.cat.PlanHeld(ctx, at, o, func(ctx context.Context, p catalog.Plan) error {
		if at.Latest && atText != "" && snapshotID == "" {
			fmt.Fprintf(e.Stderr, "%s is the end of the restorable window: %s\n", strings.TrimSpace(atText), p.At.Format(time.RFC3339Nano))
		}
		return fn(ctx, p)
	})
}
