package catalog

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ErrNothingRestorable means the backup has no restorable window yet; the error says why.
var ErrNothingRestorable = errors.New("nothing is restorable yet")

// Resolve turns --at into a time against the listing's windows: "latest" becomes the end
// of the last window. When nothing is restorable the error wraps ErrNothingRestorable and
// ErrNoCoverage and says why (no snapshot, a shard never read, a gap).
func Resolve(l Listing, at At) (time.Time, error) {
	t, ok := at.Resolve(Windows(l))
	if ok {
		return t, nil
	}
	_, err := NewPlan(l, far.Add(-time.Hour))
	var ce *CoverageError
	switch {
	case errors.As(err, &ce):
		return time.Time{}, fmt.Errorf("%w: %s: %w", ErrNothingRestorable, ce.Reason, ErrNoCoverage)
	case err != nil:
		return time.Time{}, err // not a matter of coverage (two regions' streams)
	}
	return time.Time{}, fmt.Errorf("%w: %w", ErrNothingRestorable, ErrNoCoverage)
}

// PlanOptions tune PlanHeld.
type PlanOptions struct {
	HoldOptions
	// NoLock reads without a retention lock (a read-only source): a retention run
	// meanwhile may delete files the plan names, and reading them then fails.
	NoLock bool
	// Snapshot, when set, restores that snapshot alone (SnapshotPlan) instead of at.
	Snapshot string
}

// PlanHeld plans a restore at `at` and runs fn with the plan while a retention lock keeps
// what it needs: it lists the backup, resolves at, takes the lock, lists again (a listing
// made before the lock may name files a retention run has deleted since) and plans on the
// new listing. The lock is released when fn returns.
func (c *Catalog) PlanHeld(ctx context.Context, at At, o PlanOptions, fn func(ctx context.Context, p Plan) error) error {
	l, err := c.List(ctx)
	if err != nil {
		return err
	}
	plan := func(l Listing, t time.Time) (Plan, error) {
		if o.Snapshot != "" {
			return SnapshotPlan(l, o.Snapshot)
		}
		return NewPlan(l, t)
	}
	var t time.Time
	if o.Snapshot != "" {
		p, err := SnapshotPlan(l, o.Snapshot)
		if err != nil {
			return err
		}
		t = p.At
	} else if t, err = Resolve(l, at); err != nil {
		return err
	} else if _, err := NewPlan(l, t); err != nil {
		return err // a time the backup cannot serve is refused before any lock is taken
	}
	if o.NoLock {
		p, err := plan(l, t)
		if err != nil {
			return err
		}
		return fn(ctx, p)
	}
	return Hold(ctx, c.bucket, c.table, t, o.HoldOptions, func(ctx context.Context) error {
		l, err := c.List(ctx)
		if err != nil {
			return err
		}
		p, err := plan(l, t)
		if err != nil {
			return err
		}
		return fn(ctx, p)
	})
}
