package retention

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/ddbtape/ddbtape/catalog"
	"github.com/ddbtape/ddbtape/ledger"
	"github.com/ddbtape/ddbtape/snapshot"
	"github.com/ddbtape/ddbtape/storage"
	"github.com/ddbtape/ddbtape/writer"
)

// DefaultIncompleteGrace is how long an incomplete snapshot must have been left untouched
// before a run may delete it.
const DefaultIncompleteGrace = 24 * time.Hour

// deleteWorkers is how many objects are deleted at once.
const deleteWorkers = 8

// Config says what a run keeps.
type Config struct {
	// Retention is how far back restore points are kept; it must be positive.
	Retention time.Duration
	// IncompleteGrace: 0 means DefaultIncompleteGrace.
	IncompleteGrace time.Duration
	// Verified remembers across runs which base snapshots were read and found whole; nil
	// reads the base's parts on every run that deletes something.
	Verified *Verified
	// Logger receives what was deleted; nil discards it.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Result is what a run did.
type Result struct {
	Decision
	// Horizon is the horizon the run kept restore points from: now less the retention,
	// or a live lock's earlier time.
	Horizon time.Time
	// NothingRestorable is set when no restore point at or after the horizon exists, so
	// nothing was deleted.
	NothingRestorable bool
	// Rejected are the snapshots the run would have adopted as the window's base but
	// found damaged (a part missing, or of another size or SHA-256 than the manifest
	// says); it decided without them and deleted nothing they would have replaced.
	Rejected []Rejected
	// Deferred is set when a reader took a lock while the run decided; nothing was
	// deleted, the next run will.
	Deferred bool
	// Deleted counts the objects deleted and their bytes (expired locks included).
	Deleted      int
	DeletedBytes int64
	// Locked counts the objects left because their S3 Object Lock retention holds (for a
	// snapshot kept whole, its manifest), and LockedUntil is the earliest end among them;
	// KeptByLock are the snapshots kept whole because their manifest is held (see
	// lock.go). A later run deletes them.
	Locked      int
	LockedUntil time.Time
	KeptByLock  []string
	// Ledger is what consolidating the table's ledger did.
	Ledger ledger.Consolidation
	// Windows are the restorable windows after the run.
	Windows []catalog.Window
}

// Run deletes what no restore point after the retention horizon, nor any live lock,
// needs, as the package doc describes, skipping what S3 Object Lock still holds (see
// lock.go), then consolidates the table's ledger.
func Run(ctx context.Context, cat *catalog.Catalog, cfg Config) (Result, error) {
	res, err := run(ctx, cat, &cfg)
	if err != nil {
		return res, err
	}
	res.Ledger = consolidateLedger(ctx, cat.Bucket(), cat.Table(), cfg.Now, cfg.Logger.With("table", cat.Table()))
	return res, nil
}

func run(ctx context.Context, cat *catalog.Catalog, cfg *Config) (res Result, err error) {
	b := cat.Bucket()
	table := cat.Table()
	if cfg.Retention <= 0 {
		return Result{}, fmt.Errorf("retention must be positive, got %s", cfg.Retention)
	}
	if cfg.IncompleteGrace <= 0 {
		cfg.IncompleteGrace = DefaultIncompleteGrace
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	log := cfg.Logger.With("table", table)
	now := cfg.Now().UTC()
	res = Result{Horizon: now.Add(-cfg.Retention)}

	locks, expired, err := catalog.Locks(ctx, b, table, now)
	if err != nil {
		return res, err
	}
	seen := map[string]bool{}
	for _, lk := range locks {
		seen[lk.Key] = true
		if lk.At.Before(res.Horizon) {
			res.Horizon = lk.At
		}
	}
	l, err := cat.List(ctx)
	if err != nil {
		return res, err
	}
	res.Windows = catalog.Windows(l)
	objs, err := b.List(ctx, writer.SnapshotsPrefix(table))
	if err != nil {
		return res, fmt.Errorf("list snapshots of %s: %w", table, err)
	}
	dirs := snapshotObjects(table, objs)
	// usable is the listing less the snapshots found damaged: a base is adopted only once
	// its parts are confirmed whole (see the package doc), else the run decides again
	// without it, keeping what the older snapshots need.
	usable := l
	var d Decision
	for {
		var ok bool
		d, ok = Decide(usable, res.Horizon, incompleteSnapshots(usable, dirs), now.Add(-cfg.IncompleteGrace))
		if !ok {
			res.NothingRestorable = true
			// With windows that all end before the horizon, capture has been stalled for
			// longer than the retention: worth a warning. Without any, the backup is new.
			level := slog.LevelDebug
			if len(res.Windows) > 0 {
				level = slog.LevelWarn
			}
			log.Log(ctx, level, "retention: nothing is restorable at or after the horizon, so nothing is deleted", "horizon", res.Horizon, "windows", len(res.Windows), "damaged_snapshots", len(res.Rejected))
			return res, nil
		}
		if d.Empty() {
			break
		}
		problem, err := checkBase(ctx, b, table, d.Base, manifestOf(usable, d.Base), dirs[d.Base], cfg.Verified)
		if err != nil {
			return res, err
		}
		if problem == "" {
			break
		}
		res.Rejected = append(res.Rejected, Rejected{Snapshot: d.Base, Problem: problem})
		log.Error("retention: a damaged snapshot is not adopted as the base of the restorable window; the older snapshots and segments stay. Restores that start from it fail: take a new snapshot, then delete its directory",
			"snapshot", d.Base, "problem", problem)
		usable = without(usable, []string{d.Base})
	}
	tally := &lockTally{}
	held, err := lockedManifests(ctx, b, usable, d.Snapshots, now, tally)
	if err != nil {
		return res, err
	}
	d = keepLocked(usable, d, held)
	res.KeptByLock = held
	res.Decision = d
	defer func() {
		res.Locked, res.LockedUntil = tally.n, tally.until
		if tally.n > 0 || len(held) > 0 {
			log.Info("retention: S3 Object Lock still holds objects this run would delete; they stay until it ends and a later run deletes them",
				"objects", tally.n, "held_until", tally.until, "snapshots_kept_whole", held)
		}
	}()
	if d.Empty() {
		res.Deleted, res.DeletedBytes, err = deleteObjects(ctx, b, expiredObjects(expired), tally, now)
		return res, err
	}

	// Tell readers where the window is about to start, then make sure none started
	// before it while this run was deciding (see the package doc).
	m, err := catalog.ReadMarker(ctx, b, table)
	if err != nil {
		return res, err
	}
	if d.WindowStart.After(m.Horizon) {
		if err := catalog.WriteMarker(ctx, b, table, catalog.Marker{Horizon: d.WindowStart, UpdatedAt: now}); err != nil {
			return res, err
		}
	}
	again, _, err := catalog.Locks(ctx, b, table, now)
	if err != nil {
		return res, err
	}
	for _, lk := range again {
		if !seen[lk.Key] && lk.At.Before(d.WindowStart) {
			res.Deferred = true
			log.Info("retention: a reader started while deciding; deleting nothing this time", "lock", lk.Key, "at", lk.At)
			return res, nil
		}
	}

	// Manifests first: a snapshot without one is never picked, so no reader can start on
	// a snapshot whose parts are going.
	var manifests, rest []storage.Object
	for _, id := range d.Snapshots {
		for _, o := range dirs[id] {
			if strings.HasSuffix(o.Key, "/"+writer.ManifestName) {
				manifests = append(manifests, o)
			} else {
				rest = append(rest, o)
			}
		}
	}
	for _, s := range d.Segments {
		rest = append(rest, storage.Object{Key: s.Key, Size: s.Size})
	}
	rest = append(rest, expiredObjects(expired)...)
	for _, batch := range [][]storage.Object{manifests, rest} {
		n, size, err := deleteObjects(ctx, b, batch, tally, now)
		res.Deleted += n
		res.DeletedBytes += size
		if err != nil {
			return res, err
		}
	}
	res.Windows = catalog.Windows(without(l, d.Snapshots))
	log.Info("retention: deleted what no retained restore point needs",
		"horizon", res.Horizon, "oldest_restore_point", d.Oldest, "window_start", d.WindowStart, "base_snapshot", d.Base,
		"snapshots", len(d.Snapshots), "segments", len(d.Segments), "objects", res.Deleted, "bytes", res.DeletedBytes)
	return res, nil
}

// snapshotObjects groups the objects under a table's snapshots by snapshot id.
func snapshotObjects(table string, objs []storage.Object) map[string][]storage.Object {
	out := map[string][]storage.Object{}
	prefix := writer.SnapshotsPrefix(table)
	for _, o := range objs {
		id, _, ok := strings.Cut(strings.TrimPrefix(o.Key, prefix), "/")
		if ok && id != "" {
			out[id] = append(out[id], o)
		}
	}
	return out
}

// incompleteSnapshots describes the snapshots of l without a manifest.
func incompleteSnapshots(l catalog.Listing, dirs map[string][]storage.Object) []Incomplete {
	var out []Incomplete
	for _, s := range l.Snapshots {
		if s.Manifest != nil {
			continue
		}
		in := Incomplete{ID: s.ID}
		for _, o := range dirs[s.ID] {
			if in.Started.IsZero() || o.ModTime.Before(in.Started) {
				in.Started = o.ModTime
			}
			if o.ModTime.After(in.Modified) {
				in.Modified = o.ModTime
			}
		}
		if t, ok := snapshot.IDTime(s.ID); ok {
			in.Started = t
		}
		out = append(out, in)
	}
	return out
}

func expiredObjects(keys []string) []storage.Object {
	out := make([]storage.Object, len(keys))
	for i, k := range keys {
		out[i] = storage.Object{Key: k}
	}
	return out
}

// manifestOf is the manifest of snapshot id in l; nil when it has none.
func manifestOf(l catalog.Listing, id string) *writer.Manifest {
	for _, s := range l.Snapshots {
		if s.ID == id {
			return s.Manifest
		}
	}
	return nil
}

// without is l less the snapshots ids.
func without(l catalog.Listing, ids []string) catalog.Listing {
	gone := map[string]bool{}
	for _, id := range ids {
		gone[id] = true
	}
	out := l
	out.Snapshots = nil
	for _, s := range l.Snapshots {
		if !gone[s.ID] {
			out.Snapshots = append(out.Snapshots, s)
		}
	}
	return out
}

// deleteObjects deletes objs, a few at a time, but those S3 Object Lock holds at now
// (counted in tally); it stops at the first failure.
func deleteObjects(ctx context.Context, b storage.Bucket, objs []storage.Object, tally *lockTally, now time.Time) (int, int64, error) {
	var n, size atomic.Int64
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(deleteWorkers)
	for _, o := range objs {
		g.Go(func() error {
			if ok, err := tally.deletable(gctx, b, o.Key, now); err != nil || !ok {
				return err
			}
			if err := b.Delete(gctx, o.Key); err != nil {
				if errors.Is(err, storage.ErrLocked) {
					r, _ := storage.RetentionOf(gctx, b, o.Key)
					tally.add(r.Until)
					return nil
				}
				return fmt.Errorf("delete %s: %w", storage.URL(b, o.Key), err)
			}
			n.Add(1)
			size.Add(o.Size)
			return nil
		})
	}
	err := g.Wait()
	return int(n.Load()), size.Load(), err
}

// Summary says in one line what a run of retention on table did and kept.
func (r Result) Summary(table string) string {
	if r.NothingRestorable {
		return fmt.Sprintf("retention of %s: nothing is restorable at or after %s, so nothing was deleted", table, r.Horizon.Format(time.RFC3339))
	}
	s := fmt.Sprintf("retention of %s: restore points kept from %s; deleted %d objects (%d bytes): %d snapshots, %d segments",
		table, r.Horizon.Format(time.RFC3339), r.Deleted, r.DeletedBytes, len(r.Snapshots), len(r.Segments))
	if r.Locked > 0 || len(r.KeptByLock) > 0 {
		s += fmt.Sprintf("; S3 Object Lock holds %d more objects until %s and snapshots %v whole: a later run deletes them", r.Locked, r.LockedUntil.Format(time.RFC3339), r.KeptByLock)
	}
	if r.Deferred {
		s += "; a reader started while deciding, so this run deleted nothing"
	}
	if r.Ledger.Replaced > 0 {
		s += fmt.Sprintf("; ledger: %d objects consolidated", r.Ledger.Replaced)
	}
	return s
}
