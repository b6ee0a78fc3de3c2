package restore

import (
	"context"
	"fmt"
	"io"

	"github.com/ddbtape/ddbtape/replay"
)

// Target is where a restore writes the state at T. Run hands it, key by key, what each
// key needs, then commits it: a file (File), a new or the existing table (Table), or
// nothing at all (DryRun).
type Target interface {
	// Put writes item, the key's item at T. a is Insert when the target lacks the key
	// (always, for a target that starts empty) and Update when it holds another item.
	Put(ctx context.Context, key, item string, a Action) error
	// Delete removes key from the target: it holds an item that did not exist at T.
	Delete(ctx context.Context, key string) error
	// Commit makes the writes final once every key was handed over.
	Commit(ctx context.Context) error
	// Abort gives up after err, leaving nothing half-made where the target can (a file's
	// temporary name), and returns err with what the target can add to it (how far a
	// table's writes got). After Commit it changes nothing but the error.
	Abort(err error) error
}

// Holder is a Target that holds items already, the existing table: Run reads them with
// Live (nil: it holds none) and hands the target only the keys whose item differs from
// the state at T.
type Holder interface {
	Target
	Live() replay.LiveSource
}

// DryRun is a Target that writes nothing: Run's Result counts what a restore into Into
// would write. Into is read (when it is a Holder) but never written; nil stands for a
// target that starts empty, a table to be created. With Diff set, every key that would
// change is written to it as a line: "+ KEY" (new), "~ KEY" (changed) or "- KEY".
type DryRun struct {
	Into Target
	Diff io.Writer
}

var _ Holder = (*DryRun)(nil)

// Live is what Into holds.
func (d *DryRun) Live() replay.LiveSource {
	if h, ok := d.Into.(Holder); ok {
		return h.Live()
	}
	return nil
}

// Put notes a put.
func (d *DryRun) Put(_ context.Context, key, _ string, a Action) error {
	return d.diff(map[Action]string{Insert: "+", Update: "~"}[a], key)
}

// Delete notes a delete.
func (d *DryRun) Delete(_ context.Context, key string) error { return d.diff("-", key) }

func (d *DryRun) diff(sign, key string) error {
	if d.Diff == nil {
		return nil
	}
	_, err := fmt.Fprintf(d.Diff, "%s %s\n", sign, key)
	return err
}

// String says what the dry run does, for progress: "count", or "compare TABLE".
func (d *DryRun) String() string {
	if t, ok := d.Into.(interface{ Name() string }); ok && d.Live() != nil {
		return "compare " + t.Name()
	}
	return "count"
}

// Commit does nothing: nothing was written.
func (d *DryRun) Commit(context.Context) error { return nil }

// Abort returns err.
func (d *DryRun) Abort(err error) error { return err }
