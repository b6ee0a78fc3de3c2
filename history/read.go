// Package history reads the versions of some items over a time range from a backup: the
// base (the item at the range's start, from the newest snapshot at or before it and the
// changes stamped before it) and then every stored change, in merge order, with what each
// changed. It reads only the segments the catalog selects for the range (SegmentsBetween)
// and, of the snapshot, the parts; `ddbtape history` prints one key's, and undo works
// from the histories of every key changed by an event or in an interval.
package history

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/ddbtape/ddbtape/catalog"
	"github.com/ddbtape/ddbtape/replay"
	"github.com/ddbtape/ddbtape/writer"
)

// Options say which keys Read follows and how far.
type Options struct {
	// Keep selects the keys, by merge key (replay.MergeKey); nil keeps none.
	Keep func(key string) bool
	// To is the end of the range, inclusive.
	To time.Time
	// Parallelism is how many files are read at once; zero: GOMAXPROCS.
	Parallelism int
	// Progress counts the rows read; nil: none.
	Progress replay.Counter
}

// Read returns the history of every key o.Keep selects, by merge key: the base at p.At
// (p's snapshot and the changes stamped before p.At) and a version per change stamped in
// [p.At, o.To]. l is the listing p was planned on (or a newer one): its segments for
// [p.ReplayFrom, o.To] are read. A key that neither exists at p.At nor changes gets no
// history. Memory holds every version of the selected keys.
func Read(ctx context.Context, p catalog.Plan, l catalog.Listing, r replay.Reader, o Options) (map[string][]Version, error) {
	if p.Snapshot.Manifest == nil {
		return nil, fmt.Errorf("plan has no snapshot manifest")
	}
	var mu sync.Mutex
	base := map[string]string{}
	changes := map[string][]change{}
	g, gctx := limited(ctx, o.Parallelism)
	for _, part := range p.Snapshot.Manifest.Parts {
		g.Go(func() error {
			return r.ReadPart(gctx, p.Snapshot.ID, part, func(it writer.SnapshotItem) error {
				count(o.Progress, len(it.Item))
				k, ok, err := keep(o.Keep, it.Keys)
				if err != nil || !ok {
					return err
				}
				mu.Lock()
				base[k] = it.Item
				mu.Unlock()
				return nil
			})
		})
	}
	for _, seg := range l.SegmentsBetween(p.ReplayFrom, o.To) {
		g.Go(func() error {
			return r.ReadSegment(gctx, seg, func(c *writer.Change) error {
				count(o.Progress, int(c.SizeBytes))
				if c.ApproximateCreationTime.Before(p.ReplayFrom) || c.ApproximateCreationTime.After(o.To) {
					return nil
				}
				k, ok, err := keep(o.Keep, c.Keys)
				if err != nil || !ok {
					return err
				}
				mu.Lock()
				changes[k] = append(changes[k], change{c: *c, order: p.Lineage.Order(c)})
				mu.Unlock()
				return nil
			})
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	out := map[string][]Version{}
	for k, cs := range changes {
		vs, err := Build(base[k], p.Snapshot.ID, cs, p.At, o.To)
		if err != nil {
			return nil, fmt.Errorf("key %s: %w", k, err)
		}
		out[k] = vs
	}
	for k, item := range base {
		if _, ok := out[k]; !ok {
			vs, err := Build(item, p.Snapshot.ID, nil, p.At, o.To)
			if err != nil {
				return nil, fmt.Errorf("key %s: %w", k, err)
			}
			out[k] = vs
		}
	}
	return out, nil
}

// Changed returns the merge keys of every change stamped in [from, to], reading only the
// segments the catalog selects for that range.
func Changed(ctx context.Context, l catalog.Listing, r replay.Reader, from, to time.Time, parallelism int) (map[string]bool, error) {
	var mu sync.Mutex
	out := map[string]bool{}
	g, gctx := limited(ctx, parallelism)
	for _, seg := range l.SegmentsBetween(from, to) {
		g.Go(func() error {
			return r.ReadSegment(gctx, seg, func(c *writer.Change) error {
				if c.ApproximateCreationTime.Before(from) || c.ApproximateCreationTime.After(to) {
					return nil
				}
				k, err := replay.MergeKey(c.Keys)
				if err != nil {
					return err
				}
				mu.Lock()
				out[k] = true
				mu.Unlock()
				return nil
			})
		})
	}
	return out, g.Wait()
}

// ErrNoEvent means no stored change has the event id asked for.
var ErrNoEvent = errors.New("no change with that event id in the backup's restorable windows: take the id from ddbtape history")

// FindEvent returns the stored change whose event id is id, among those stamped in
// [from, to], and its merge key; an error wrapping ErrNoEvent when there is none.
func FindEvent(ctx context.Context, l catalog.Listing, r replay.Reader, id string, from, to time.Time, parallelism int) (writer.Change, string, error) {
	var mu sync.Mutex
	var found *writer.Change
	g, gctx := limited(ctx, parallelism)
	for _, seg := range l.SegmentsBetween(from, to) {
		g.Go(func() error {
			return r.ReadSegment(gctx, seg, func(c *writer.Change) error {
				if c.EventID != id {
					return nil
				}
				mu.Lock()
				cc := *c
				found = &cc
				mu.Unlock()
				return nil
			})
		})
	}
	if err := g.Wait(); err != nil {
		return writer.Change{}, "", err
	}
	if found == nil {
		return writer.Change{}, "", fmt.Errorf("event %s: %w", id, ErrNoEvent)
	}
	k, err := replay.MergeKey(found.Keys)
	return *found, k, err
}

func limited(ctx context.Context, n int) (*errgroup.Group, context.Context) {
	if n <= 0 {
		n = runtime.GOMAXPROCS(0)
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(n)
	return g, gctx
}

func keep(fn func(string) bool, keys string) (string, bool, error) {
	if fn == nil {
		return "", false, nil
	}
	k, err := replay.MergeKey(keys)
	if err != nil {
		return "", false, err
	}
	return k, fn(k), nil
}

func count(c replay.Counter, bytes int) {
	if c != nil {
		c.Add(1, int64(bytes))
	}
}
