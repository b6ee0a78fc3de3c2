// Package compact builds a new base snapshot from an earlier snapshot and the change
// segments stored after it, without reading the table (no read capacity is spent). Later
// restores then start from it and replay hours instead of days of changes, and
// retention can let the older snapshot and its segments go.
//
// A compaction at C is the table's state at C computed exactly as `restore --at C`
// computes it (catalog.NewPlan and replay.Apply), written as a normal snapshot: parts,
// then the manifest last, with method "compaction", compacted_from naming the base and C,
// and started_at = finished_at = C.
//
// Why those times keep every restore correct. A restore at T >= C now picks this
// snapshot and replays the changes stamped in [C - catalog.StampMargin, T]. Coverage says
// every record stamped at or before C was stored when C was chosen, except that a write
// made just after the capture's poll at C can still carry a stamp at or before C
// (DynamoDB rounds stamps down, to the second; DynamoDB Local to the minute): such a
// change is missing from the compaction, but it is stamped after C - StampMargin, since
// the margin is at least one stamp unit, so the replay applies it. Every other change the
// compaction applied and the replay applies again is idempotent: the last change of a key
// in [C - StampMargin, T] wins, whatever the snapshot holds. And since finished_at is C,
// restore points before C keep using the older snapshot, unchanged.
//
// A compaction reads under a retention lock at C (catalog.PlanHeld), so a concurrent
// retention run cannot delete its inputs.
//
// A failure never destroys a complete snapshot. A manifest write can report failure
// although the manifest was stored (on S3 a PUT whose response was lost is retried and
// refused with 412; a 500 can come after the commit), so the manifest is read back, and
// if it is there and is this run's, the compaction succeeded (writer.CreateManifest). A
// failed compaction deletes only the parts it tried to store and that no manifest at its
// key lists, and nothing when that key cannot be read. Under S3 Object Lock those parts
// are locked too, and stay (incomplete: never read; retention deletes them later).
//
// A compaction that succeeds then consolidates the table's ledger
// (ledger.ConsolidateTable), as retention runs do: a backup kept forever, with
// compaction and no retention, still has its ledger consolidated. A failure to do so is
// only logged.
package compact

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/ddbtape/ddbtape/catalog"
	"github.com/ddbtape/ddbtape/ledger"
	"github.com/ddbtape/ddbtape/replay"
	"github.com/ddbtape/ddbtape/snapshot"
	"github.com/ddbtape/ddbtape/storage"
	"github.com/ddbtape/ddbtape/writer"
)

// ErrUpToDate means a snapshot already exists at or after the time asked for, so a
// compaction would add nothing. Not a failure: run it again once more changes are stored.
var ErrUpToDate = errors.New("a snapshot already ends at or after that time: nothing to compact")

// Method is the manifest method of a compaction.
const Method = "compaction"

// Config says what to compact and how.
type Config struct {
	// At is the time C the new snapshot holds the state of; zero means the end of the
	// restorable window, to the whole second.
	At time.Time
	// Part says when a part is cut; zero means writer.DefaultPartPolicy().
	Part writer.PartPolicy
	// SpoolDir holds parts being written and the merge's spill files (about the
	// uncompressed size of the snapshot and segments); empty: the system temp directory.
	SpoolDir string
	// Parallelism is how many files are read at once; 0: GOMAXPROCS.
	Parallelism int
	// LockTTL is the retention lock's lifetime between renewals; 0: the default.
	LockTTL time.Duration
	// Logger receives progress; nil discards it.
	Logger *slog.Logger
}

// Result is what a compaction built.
type Result struct {
	Manifest writer.Manifest
	// Base is the snapshot it started from; Stats what the merge read.
	Base  string
	Stats replay.Stats
}

// Run builds the snapshot of the catalog's table at cfg.At (or at the end of the
// restorable window) from the backup cat reads. It returns ErrUpToDate when a snapshot
// already finished at or after that time, and an error wrapping catalog.ErrNoCoverage
// when the time is not restorable. A manifest write that reports failure is read back:
// if the manifest is there and is this run's, the compaction succeeded. A failed
// compaction deletes the parts it stored that no manifest lists, and nothing at all when
// it cannot tell whether its manifest is there.
func Run(ctx context.Context, cat *catalog.Catalog, cfg Config) (Result, error) {
	if cfg.Part == (writer.PartPolicy{}) {
		cfg.Part = writer.DefaultPartPolicy()
	}
	if err := cfg.Part.Validate(); err != nil {
		return Result{}, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	table := cat.Table()
	l, err := cat.Coverage(ctx)
	if err != nil {
		return Result{}, err
	}
	at, err := catalog.Resolve(l, catalog.At{Time: cfg.At.UTC(), Latest: cfg.At.IsZero()})
	if err != nil {
		return Result{}, fmt.Errorf("compact %s: %w", table, err)
	}
	if newest := newestFinish(l); !newest.IsZero() && !newest.Before(at) {
		return Result{}, fmt.Errorf("compact %s at %s (newest snapshot finished %s): %w",
			table, at.Format(time.RFC3339Nano), newest.Format(time.RFC3339Nano), ErrUpToDate)
	}
	var res Result
	hold := catalog.PlanOptions{HoldOptions: catalog.HoldOptions{Purpose: "compaction", TTL: cfg.LockTTL, Logger: cfg.Logger}}
	err = cat.PlanHeld(ctx, catalog.At{Time: at}, hold, func(ctx context.Context, p catalog.Plan) error {
		var err error
		res, err = build(ctx, cat.Bucket(), p, cfg)
		return err
	})
	if err != nil && errors.Is(err, catalog.ErrNoCoverage) && !strings.HasPrefix(err.Error(), "compact ") {
		err = fmt.Errorf("compact %s: %w", table, err)
	}
	if err == nil {
		host, _ := os.Hostname()
		if c, cerr := ledger.ConsolidateTable(ctx, cat.Bucket(), table, "compaction-"+host, writer.ChangesPrefix(table), nil); cerr != nil {
			cfg.Logger.Warn("compaction: could not consolidate the ledger; it is read as it is", "table", table, "err", cerr)
		} else if c.Replaced > 0 {
			cfg.Logger.Debug("compaction: ledger consolidated", "table", table, "replaced", c.Replaced, "held_by_object_lock", c.Locked)
		}
	}
	return res, err
}

// newestFinish is the latest finished_at of the listing's complete snapshots.
func newestFinish(l catalog.Listing) time.Time {
	var t time.Time
	for _, s := range l.Snapshots {
		if s.Manifest != nil && s.Manifest.FinishedAt.After(t) {
			t = s.Manifest.FinishedAt
		}
	}
	return t
}

// build merges plan p into parts of a new snapshot and writes its manifest.
func build(ctx context.Context, b storage.Bucket, p catalog.Plan, cfg Config) (res Result, err error) {
	base := p.Snapshot.Manifest
	table := p.Table
	id := snapshot.NewID(p.At)
	log := cfg.Logger.With("table", table, "snapshot", id, "base", p.Snapshot.ID)
	log.Debug("compaction started", "at", p.At, "segments", len(p.Segments), "replay_from", p.ReplayFrom)

	var (
		parts []writer.ManifestPart
		tried []string // names of the parts this run tried to store
		part  *writer.Part
		items int64
		ours  []byte // the manifest, once encoded
	)
	defer func() {
		if part != nil {
			part.Discard()
		}
		if err == nil {
			return
		}
		// Parts without a manifest are never used; delete them now rather than leave
		// them for retention.
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		cleanUp(dctx, b, log, table, id, tried, ours)
	}()
	flush := func() error {
		tried = append(tried, writer.PartName(len(parts)))
		mp, err := writer.FlushPart(ctx, b, part, table, id, len(parts))
		if err != nil {
			return err
		}
		parts = append(parts, mp)
		part = nil
		return nil
	}
	reader := replay.NewBucketReader(b, table, cfg.SpoolDir)
	opts := replay.Options{TempDir: cfg.SpoolDir, Parallelism: cfg.Parallelism}
	st, err := replay.Apply(ctx, p, reader, opts, func(e replay.Entry) error {
		if !e.HasWant {
			return nil
		}
		if part == nil {
			part = writer.NewPart(cfg.SpoolDir)
		}
		if err := part.Append(writer.SnapshotItem{Keys: e.Key, Item: e.Want}); err != nil {
			return err
		}
		items++
		if part.Due(cfg.Part) {
			return flush()
		}
		return nil
	})
	if err != nil {
		return Result{}, fmt.Errorf("compact %s at %s: %w", table, p.At.Format(time.RFC3339Nano), err)
	}
	if part != nil && part.Len() > 0 {
		if err := flush(); err != nil {
			return Result{}, fmt.Errorf("compact %s: %w", table, err)
		}
	}

	m := *base
	m.FormatVersion = writer.ManifestFormatVersion
	m.SnapshotID = id
	m.Method = Method
	m.StartedAt, m.FinishedAt = p.At, p.At
	m.CompactedFrom = &writer.CompactionSource{SnapshotID: p.Snapshot.ID, ChangesUntil: p.At}
	m.ItemCount = items
	m.Parts = append([]writer.ManifestPart{}, parts...)
	if ours, err = writer.EncodeManifest(m); err != nil {
		return Result{}, err
	}
	// A write that reports failure but stored the manifest counts as success (see
	// CreateManifest); the clean-up reads the key again before it deletes a part.
	if err := writer.CreateManifest(ctx, b, writer.ManifestKey(table, id), ours); err != nil {
		return Result{}, fmt.Errorf("compact %s: write manifest: %w", table, err)
	}
	log.Debug("compaction complete", "items", items, "parts", len(parts), "snapshot_items", st.SnapshotItems, "changes_replayed", st.Replayed)
	return Result{Manifest: m, Base: p.Snapshot.ID, Stats: st}, nil
}

// cleanUp deletes what a failed compaction stored: the parts it tried to store that no
// manifest at its snapshot's key lists. A manifest can be there although its write
// reported failure, and its parts must then stay; when the key cannot be read, nothing is
// deleted (retention removes a directory without a manifest after its grace period, and
// checks a complete snapshot's parts before it adopts it as the base of the window).
func cleanUp(ctx context.Context, b storage.Bucket, log *slog.Logger, table, id string, tried []string, ours []byte) {
	key := writer.ManifestKey(table, id)
	listed := map[string]bool{}
	switch data, m, err := writer.StoredManifest(ctx, b, key); {
	case errors.Is(err, storage.ErrNotFound):
	case err != nil:
		log.Warn("a failed compaction left its snapshot directory as it is: cannot tell whether its manifest is there",
			"dir", storage.URL(b, writer.SnapshotDir(table, id)), "err", err)
		return
	default:
		if bytes.Equal(data, ours) {
			log.Warn("the compaction's manifest is stored after all, though writing it failed: the snapshot is complete and stays")
		}
		for _, mp := range m.Parts {
			listed[mp.Name] = true
		}
	}
	for _, name := range tried {
		if listed[name] {
			continue
		}
		if err := b.Delete(ctx, writer.SnapshotDir(table, id)+name); err != nil {
			log.Warn("could not delete a part of a failed compaction", "part", name, "err", err)
		}
	}
	if len(listed) > 0 || ours == nil {
		return
	}
	// A manifest write that failed may still land (a request the server finished after
	// the client gave up). Found now, it lists parts just deleted: without it the
	// snapshot is merely incomplete, which no restore picks.
	if data, _, err := writer.StoredManifest(ctx, b, key); err == nil && bytes.Equal(data, ours) {
		if err := b.Delete(ctx, key); err != nil {
			log.Error("the manifest of a failed compaction appeared after its parts were deleted and cannot be deleted: delete it by hand",
				"manifest", storage.URL(b, key), "err", err)
			return
		}
		log.Warn("deleted the manifest of a failed compaction that was stored after its parts were deleted", "manifest", storage.URL(b, key))
	}
}
