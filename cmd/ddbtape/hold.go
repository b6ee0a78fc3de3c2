package main

import (
	"context"
	"flag"

	"github.com/ddbtape/ddbtape/catalog"
	"github.com/ddbtape/ddbtape/retention"
)

// lockFlags choose whether a reader holds a retention lock while it reads a backup.
type lockFlags struct{ noLock bool }

func (l *lockFlags) register(fs *flag.FlagSet) {
	fs.BoolVar(&l.noLock, "no-lock", false, "read without a retention lock (for a read-only --source); a retention run meanwhile may delete files this needs, and the command then fails naming them")
}

// planHeld resolves at on the listing bk already holds and runs fn with a plan made under
// a retention lock for that time. The backup is listed again once the lock is held: a
// listing made before it may name files a retention run has deleted since.
func (l *lockFlags) planHeld(ctx context.Context, e *env, bk source, table string, at catalog.At, atText, purpose string, fn func(ctx context.Context, p catalog.Plan) error) error {
	p, err := plan(e, bk.listing, at, atText)
	if err != nil {
		return err
	}
	if l.noLock {
		return fn(ctx, p)
	}
	return retention.Hold(ctx, bk.bucket, table, p.At, retention.HoldOptions{Purpose: purpose}, func(ctx context.Context) error {
		listing, err := catalog.List(ctx, bk.bucket, bk.checkpoints, table)
		if err != nil {
			return err
		}
		p, err := catalog.NewPlan(listing, p.At)
		if err != nil {
			return err
		}
		return fn(ctx, p)
	})
}
