package restore

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/ddbtape/ddbtape/catalog"
	"github.com/ddbtape/ddbtape/globaltable"
	"github.com/ddbtape/ddbtape/replay"
)

// Meter shows the progress of one phase of a restore; *progress.Meter is one.
type Meter interface {
	Add(items, bytes int64)
	Done()
}

// Options say how Run reads the backup and reports.
type Options struct {
	// Reader reads the backup's files: a replay.BucketReader, or a SkipCorrupt of one.
	Reader replay.Reader
	// TempDir, Parallelism and Filter are the merge's (replay.Options).
	TempDir     string
	Parallelism int
	Filter      *replay.KeyFilter
	// Partition restores only the keys of one partition (replay.Partition): N restores,
	// one per partition, together write what one restore writes.
	Partition replay.Partition
	// KeepReplicationAttributes keeps the aws:rep:* attributes a legacy (2017.11.29)
	// global table keeps in its items; by default they are dropped, on both sides of a
	// comparison.
	KeepReplicationAttributes bool
	// Meter, when set, makes a progress meter per phase: "read backup" while the backup is
	// read, counting "rows" (the snapshot's items, then every change replayed: more than
	// the table holds), then what the target does ("load orders": its String, when it has
	// one) once the items at T flow to it, counting "items".
	Meter func(label, unit string, total int64) Meter
	// Notes receives what the user must know of the result, a line each: every file
	// SkipCorrupt skipped and what is missing because of it, the replication attributes
	// dropped. Nil: they are not told.
	Notes io.Writer
}

// Result says what Run did.
type Result struct {
	// Counts are the keys by what the target needed; for a target that starts empty every
	// key existing at T is an Insert.
	Counts Counts
	Stats  replay.Stats
	// Skipped is how many files SkipCorrupt skipped: the result lacks what they held.
	Skipped int
	// Stripped is how many items had replication attributes dropped.
	Stripped int64
	// Absent are the keys of a key list (Options.Filter) that did not exist at T: nothing
	// was restored for them (a target table that holds one has it deleted).
	Absent []string
}

// Run rebuilds the table of plan p (replay.Apply) and hands t every key that needs a
// write: its item at T, or, when t is a Holder, whatever differs from the item t holds
// (to a Planner, as a Change that expects the item read).
// It commits t once every key was handed over. On a failure it aborts t and returns the
// error, with what t adds (how far a table's writes got) and, for a corrupt file, what
// to do about it.
func Run(ctx context.Context, p catalog.Plan, t Target, o Options) (Result, error) {
	var res Result
	ro := replay.Options{TempDir: o.TempDir, Parallelism: o.Parallelism, Filter: o.Filter, Partition: o.Partition}
	if h, ok := t.(Holder); ok {
		ro.Live = h.Live()
	}
	holds := ro.Live != nil
	total := p.Snapshot.Manifest.ItemCount
	read := o.meter("read backup", "rows", total)
	ro.Progress = read
	var written Meter
	var existed map[string]bool // the listed keys (--keys) that existed at T
	if o.Filter.Len() > 0 {
		existed = map[string]bool{}
	}
	st, err := replay.Apply(ctx, p, o.Reader, ro, func(en replay.Entry) error {
		if existed != nil && en.HasWant {
			existed[en.Key] = true
		}
		if written == nil {
			read.Done()
			written = o.meter(fmt.Sprint(t), "items", total)
		}
		read := en.Have // a guarded write expects the item as the table holds it
		if !o.KeepReplicationAttributes {
			if err := strip(&en, &res); err != nil {
				return err
			}
		}
		a, err := Classify(en)
		if err != nil {
			return err
		}
		res.Counts.Add(a)
		if pl, ok := t.(Planner); ok && a != Unchanged {
			written.Add(1, 0)
			c := Change{Key: en.Key}
			if a != Delete {
				c.Item = en.Want
			}
			if en.HasHave {
				c.Expect = read
			}
			return pl.Plan(ctx, c, a)
		}
		switch a {
		case Insert, Update:
			var size int64
			if !holds {
				size = int64(len(en.Want))
			}
			written.Add(1, size)
			return t.Put(ctx, en.Key, en.Want, a)
		case Delete:
			written.Add(1, 0)
			return t.Delete(ctx, en.Key)
		}
		written.Add(1, 0)
		return nil
	})
	if written == nil {
		read.Done()
	} else {
		written.Done()
	}
	res.Stats = st
	if existed != nil {
		for _, k := range o.Filter.Keys() {
			if !existed[k] {
				res.Absent = append(res.Absent, k)
			}
		}
	}
	err = o.report(err, &res, p.At)
	if err == nil {
		err = t.Commit(ctx)
	}
	if err != nil {
		return res, t.Abort(err)
	}
	return res, nil
}

func (o *Options) meter(label, unit string, total int64) Meter {
	if o.Meter == nil {
		return nopMeter{}
	}
	return o.Meter(label, unit, total)
}

type nopMeter struct{}

func (nopMeter) Add(int64, int64) {}
func (nopMeter) Done()            {}

// strip drops the replication attributes from an entry's items, both sides.
func strip(en *replay.Entry, res *Result) error {
	var err error
	var n int
	if en.HasWant {
		if en.Want, n, err = globaltable.StripAttributes(en.Want); err != nil {
			return fmt.Errorf("key %s: %w", en.Key, err)
		}
		if n > 0 {
			res.Stripped++
		}
	}
	if en.HasHave {
		if en.Have, _, err = globaltable.StripAttributes(en.Have); err != nil {
			return fmt.Errorf("key %s in the table: %w", en.Key, err)
		}
	}
	return nil
}

// maxAbsentShown bounds how many absent keys the notes name.
const maxAbsentShown = 10

// report tells the notes what the user must know of the result: with SkipCorrupt, every
// skipped file; the replication attributes dropped. Without SkipCorrupt, a corrupt file's
// error gains what to do about it.
func (o *Options) report(err error, res *Result, at time.Time) error {
	notes := o.Notes
	if notes == nil {
		notes = io.Discard
	}
	s, skipping := o.Reader.(*SkippingReader)
	switch {
	case skipping:
		lines := s.Skipped()
		for _, l := range lines {
			fmt.Fprintln(notes, l)
		}
		if res.Skipped = len(lines); res.Skipped > 0 {
			fmt.Fprintf(notes, "the result is incomplete: %s skipped (listed above)\n", corruptFiles(res.Skipped))
		}
	case err != nil && corruptFile(err):
		err = fmt.Errorf("%w (replace the file from a copy of the backup, or rerun with --skip-corrupt to go on without it and list every damaged file)", err)
	}
	if n := len(res.Absent); n > 0 && err == nil {
		shown := res.Absent[:min(n, maxAbsentShown)]
		more := ""
		if n > len(shown) {
			more = fmt.Sprintf(" and %d more", n-len(shown))
		}
		fmt.Fprintf(notes, "%d of the %d keys asked for did not exist at %s: %s%s\n", n, o.Filter.Len(), at.UTC().Format(time.RFC3339Nano), strings.Join(shown, ", "), more)
	}
	if res.Stripped > 0 {
		fmt.Fprintf(notes, "dropped the %s* replication attributes of a legacy global table (version %s) from %d items (--keep-replication-attributes keeps them)\n",
			globaltable.AttributePrefix, globaltable.Version2017, res.Stripped)
	}
	return err
}
