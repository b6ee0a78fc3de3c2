package restore

import (
	"context"
	"errors"
	"io"

	"github.com/ddbtape/ddbtape/catalog"
)

// ErrNotConfirmed means a write into an existing table was planned and shown but not
// confirmed: nothing was written.
var ErrNotConfirmed = errors.New("nothing written: the target table exists; check the plan above, then run the command again with --yes to write it")

// SyncOptions say how Sync reads the backup, shows its plan and writes.
type SyncOptions struct {
	Options
	// Diff receives a line per key that would change, as DryRun writes them; nil: none.
	Diff io.Writer
	// Show is told the plan before anything is written; nil: it is not shown.
	Show func(Counts)
	// DryRun stops once the plan is shown. Without Yes, Sync stops there too, with
	// ErrNotConfirmed.
	DryRun, Yes bool
	// Unguarded writes with BatchWriteItem (Load): faster, for a quiesced table, but a write
	// made after the table was read is overwritten.
	Unguarded bool
	Load      LoadOptions
	// Guard tunes the guarded writes (the default); its KeyNames are the table's.
	Guard GuardOptions
	// Log, when set, records every change written and is stored once the writes end,
	// whether they all succeeded or not, so that they can be undone.
	Log *Log
}

// SyncResult says what Sync planned and wrote.
type SyncResult struct {
	Result
	// Written counts what reached the table, and every conflict left alone.
	Written GuardStats
}

// Sync makes the existing table t equal to the state of plan p, as a plan first: it reads
// the backup and the table (Run), keeps every write needed, shows the counts, and writes
// only with o.Yes, each write guarded (WriteGuarded) unless o.Unguarded. api makes the
// guarded writes; t's own client the unguarded ones. A write left alone because the item
// changed after it was read is a conflict in the result, not an error.
func Sync(ctx context.Context, p catalog.Plan, t *Table, api GuardAPI, o SyncOptions) (out SyncResult, err error) {
	pending, err := NewPending(t, o.TempDir, o.Diff)
	if err != nil {
		return out, err
	}
	defer pending.Close()
	if out.Result, err = Run(ctx, p, pending, o.Options); err != nil {
		return out, err
	}
	if o.Show != nil {
		o.Show(out.Counts)
	}
	switch {
	case o.DryRun:
		return out, nil
	case !o.Yes:
		return out, ErrNotConfirmed
	}
	meter := o.meter("write "+t.Name(), "items", int64(pending.Len()))
	defer meter.Done()
	if o.Log != nil {
		o.Guard.Written = o.Log.Add
		defer func() {
			if lerr := o.Log.Store(ctx); lerr != nil && err == nil {
				err = lerr
			}
		}()
	}
	if o.Unguarded {
		lo := o.Load
		lo.Progress = meter
		st, err := load(ctx, t.api, t.name, lo, func(ctx context.Context, send func(Write) error) error {
			return pending.Each(func(c Change) error {
				if o.Guard.Written != nil {
					o.Guard.Written(c)
				}
				if c.Delete() {
					return send(Write{Key: c.Key})
				}
				return send(Write{Item: c.Item})
			})
		})
		out.Written = GuardStats{Puts: st.Puts, Deletes: st.Deletes}
		return out, err
	}
	g := o.Guard
	g.Progress = meter
	out.Written, err = WriteGuarded(ctx, api, t.name, pending.Each, g)
	return out, err
}
