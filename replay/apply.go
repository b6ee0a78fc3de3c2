package replay

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"sync/atomic"

	"golang.org/x/sync/errgroup"

	"github.com/ddbtape/ddbtape/catalog"
	"github.com/ddbtape/ddbtape/globaltable"
	"github.com/ddbtape/ddbtape/writer"
)

// Reader reads the stored files a plan names. Errors name the file (its path or URL).
type Reader interface {
	// ReadPart calls fn for every row of one part of a snapshot, but only after checking
	// the part's size and SHA-256 against the manifest: a missing or altered part is an
	// error, and fn sees no row of it.
	ReadPart(ctx context.Context, snapshotID string, part writer.ManifestPart, fn func(writer.SnapshotItem) error) error
	// ReadSegment calls fn for every change of a segment, in file order. A missing,
	// truncated or unreadable segment, or one with an unknown schema, is an error.
	ReadSegment(ctx context.Context, seg catalog.Segment, fn func(*writer.Change) error) error
}

// LiveSource feeds the current items of a table (a Scan) to fn: keys and item as
// DynamoDB JSON.
type LiveSource func(ctx context.Context, fn func(keys, item string) error) error

// Counter receives progress: items and bytes just done. *progress.Meter is one.
type Counter interface{ Add(items, bytes int64) }

// Options tune Apply.
type Options struct {
	// TempDir holds the spill files; empty: the system's temporary directory. It needs
	// room for about the uncompressed size of the snapshot and the segments.
	TempDir string
	// Parallelism is how many files are read at once; zero: GOMAXPROCS.
	Parallelism int
	// Filter keeps only some keys; nil keeps all.
	Filter *KeyFilter
	// Partition keeps only the keys of one partition (the zero value: all), the live
	// table's included.
	Partition Partition
	// Live, when set, is read too, and each Entry carries the live item (Have) beside the
	// item at T (Want): what a restore into the existing table and verify compare.
	Live LiveSource
	// Progress counts the rows read; nil: none.
	Progress Counter
}

// Stats says what Apply read.
type Stats struct {
	Parts         int   `json:"parts"`
	Segments      int   `json:"segments"`
	SnapshotItems int64 `json:"snapshot_items"`
	Changes       int64 `json:"changes"`    // rows read from the segments
	Replayed      int64 `json:"replayed"`   // of those, stamped in [ReplayFrom, At]
	LiveItems     int64 `json:"live_items"` // rows read from the live table
	Keys          int64 `json:"keys"`       // entries passed to fn
}

// spillTarget is the planned uncompressed size of one partition. Parquet stores the JSON
// columns compressed; expansion estimates the uncompressed size from the stored one.
const (
	spillTarget   = 64 << 20
	expansion     = 6
	maxPartitions = 512
)

// Apply rebuilds the table of plan p: it reads the snapshot's parts and the segments
// (and the live table when opts.Live is set), merges every key as the package doc says,
// and calls fn once per key that exists at T or in the live table, one partition of keys
// at a time. fn is called from one goroutine. Memory stays bounded by the size of a
// partition, whatever the size of the table.
func Apply(ctx context.Context, p catalog.Plan, r Reader, opts Options, fn func(Entry) error) (Stats, error) {
	if p.Snapshot.Manifest == nil {
		return Stats{}, fmt.Errorf("plan has no snapshot manifest")
	}
	var stored int64
	for _, part := range p.Snapshot.Manifest.Parts {
		stored += part.Bytes
	}
	if opts.Live != nil {
		stored *= 2 // the live table is about as large as the snapshot
	}
	for _, s := range p.Segments {
		stored += s.Size
	}
	if !opts.Partition.Whole() {
		stored /= int64(opts.Partition.Count) // each partition spills its share
	}
	n := int(stored*expansion/spillTarget) + 1
	n = min(n, maxPartitions)
	tmp := opts.TempDir
	if tmp == "" {
		tmp = os.TempDir()
	}
	sp, err := newSpill(tmp, n, 0)
	if err != nil {
		return Stats{}, err
	}
	defer sp.remove()
	if !opts.Partition.Whole() {
		sp.stride = uint64(opts.Partition.Count)
	}

	var st Stats
	var snapshotItems, changes, replayed, live atomic.Int64
	win := window{from: p.ReplayFrom, at: p.At, lineage: p.Lineage}
	count := func(bytes int) {
		if opts.Progress != nil {
			opts.Progress.Add(1, int64(bytes))
		}
	}
	keep := func(key string) (string, bool, error) {
		k, err := mergeKey(key)
		if err != nil {
			return "", false, err
		}
		if !opts.Partition.Holds(k) {
			return k, false, nil
		}
		if opts.Filter == nil {
			return k, true, nil
		}
		ok, err := opts.Filter.Match(k)
		return k, ok, err
	}

	g, gctx := errgroup.WithContext(ctx)
	par := opts.Parallelism
	if par <= 0 {
		par = runtime.GOMAXPROCS(0)
	}
	g.SetLimit(par)
	if opts.Live != nil {
		g.Go(func() error {
			return opts.Live(gctx, func(keys, item string) error {
				live.Add(1)
				count(len(item))
				k, ok, err := keep(keys)
				if err != nil || !ok {
					return err
				}
				return sp.add(&record{kind: kindHave, key: k, item: item})
			})
		})
	}
	for _, part := range p.Snapshot.Manifest.Parts {
		st.Parts++
		g.Go(func() error {
			return r.ReadPart(gctx, p.Snapshot.ID, part, func(it writer.SnapshotItem) error {
				snapshotItems.Add(1)
				count(len(it.Item))
				k, ok, err := keep(it.Keys)
				if err != nil || !ok {
					return err
				}
				return sp.add(&record{kind: kindWant, key: k, v: version{item: it.Item}})
			})
		})
	}
	for _, seg := range p.Segments {
		st.Segments++
		g.Go(func() error {
			return r.ReadSegment(gctx, seg, func(c *writer.Change) error {
				changes.Add(1)
				if r := globaltable.RegionOf(c.StreamARN); p.Region != "" && r != "" && r != p.Region {
					return fmt.Errorf("segment %s holds records of region %s's stream, but the backup is of region %s (%w): move it to a backup of its own region", seg.Key, r, p.Region, globaltable.ErrOtherRegion)
				}
				count(int(c.SizeBytes))
				v, ok, err := win.changeVersion(c)
				if err != nil {
					return fmt.Errorf("segment %s: %w", seg.Key, err)
				}
				if !ok {
					return nil
				}
				replayed.Add(1)
				k, ok, err := keep(c.Keys)
				if err != nil || !ok {
					return err
				}
				return sp.add(&record{kind: kindWant, key: k, v: v})
			})
		})
	}
	err = g.Wait()
	st.SnapshotItems, st.Changes, st.Replayed, st.LiveItems = snapshotItems.Load(), changes.Load(), replayed.Load(), live.Load()
	if err != nil {
		return st, err
	}
	err = sp.each(func(e Entry) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		st.Keys++
		return fn(e)
	})
	return st, err
}
