package retention

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/ddbtape/ddbtape/catalog"
	"github.com/ddbtape/ddbtape/ledger"
	"github.com/ddbtape/ddbtape/storage"
	"github.com/ddbtape/ddbtape/writer"
)

// Object Lock
//
// In a bucket with S3 Object Lock every backup object carries a retention (storage/s3),
// and a run deletes only what is past it; S3 itself would take a delete of a locked
// object as a delete marker, hiding it, so each object's retention is read before it is
// deleted rather than learnt from a refusal. What is held stays, is reported
// (Result.Locked, LockedUntil, KeptByLock) and is deleted by a later run:
//
//   - a complete snapshot whose manifest is held is kept whole, and so are the segments
//     its restores need (from its replay start on), so that it still restores
//     (keepLocked); a snapshot goes manifest first, so its parts, written before the
//     manifest and held no longer than it, are then free;
//   - any other held object (a segment, a part of an incomplete snapshot) is skipped
//     alone: keeping it never breaks a restore.
//
// Nothing a run does depends on deleting a held object. Expired and released readers'
// locks, and the marker, are coordination objects without a retention.

// lockedManifests returns the complete snapshots among ids whose manifest is held at now,
// counting their manifests in tally.
func lockedManifests(ctx context.Context, b storage.Bucket, l catalog.Listing, ids []string, now time.Time, tally *lockTally) ([]string, error) {
	var held []string
	for _, id := range ids {
		if manifestOf(l, id) == nil {
			continue
		}
		r, err := storage.RetentionOf(ctx, b, writer.ManifestKey(l.Table, id))
		if errors.Is(err, storage.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read the Object Lock of snapshot %s: %w", id, err)
		}
		if r.Holds(now) {
			held = append(held, id)
			tally.add(r.Until)
		}
	}
	return held, nil
}

// keepLocked is d without the snapshots held, keeping what their restores need: the
// segments from their replay start on. Deleting a newer snapshot while keeping an older
// one is safe: a restore then starts from the older one, whose changes all stay.
func keepLocked(l catalog.Listing, d Decision, held []string) Decision {
	if len(held) == 0 {
		return d
	}
	d.Snapshots = slices.DeleteFunc(slices.Clone(d.Snapshots), func(id string) bool { return slices.Contains(held, id) })
	for _, id := range held {
		m := manifestOf(l, id)
		if r := catalog.ReplayFrom(m.StartedAt); r.Before(d.KeepFrom) {
			d.KeepFrom = r
		}
		if m.FinishedAt.Before(d.WindowStart) {
			d.WindowStart = m.FinishedAt
		}
	}
	d.Segments = deletableSegments(l, d.KeepFrom)
	return d
}

// lockTally counts the objects a run left because their retention holds.
type lockTally struct {
	mu    sync.Mutex
	n     int
	until time.Time
}

func (t *lockTally) add(until time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.n++
	if t.until.IsZero() || until.Before(t.until) {
		t.until = until
	}
}

// deletable reads key's retention: false (and counted) when it holds at now.
func (t *lockTally) deletable(ctx context.Context, b storage.Bucket, key string, now time.Time) (bool, error) {
	r, err := storage.RetentionOf(ctx, b, key)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return true, nil // gone already: the delete is a no-op
	case err != nil:
		return false, fmt.Errorf("read the Object Lock of %s: %w", storage.URL(b, key), err)
	case r.Holds(now):
		t.add(r.Until)
		return false, nil
	}
	return true, nil
}

// consolidateLedger combines the table's ledger into one state object
// (ledger.ConsolidateTable), leaving out the facts of segments that are gone. A failure
// is logged: the ledger is read as it is, only slower.
func consolidateLedger(ctx context.Context, b storage.Bucket, table string, now func() time.Time, log *slog.Logger) ledger.Consolidation {
	host, _ := os.Hostname()
	res, err := ledger.ConsolidateTable(ctx, b, table, "retention-"+host, writer.ChangesPrefix(table), now)
	if err != nil {
		log.Warn("retention: could not consolidate the ledger; it is read as it is", "err", err)
	} else if res.Replaced > 0 {
		log.Info("retention: ledger consolidated", "replaced", res.Replaced, "file_facts_dropped", res.Pruned,
			"held_by_object_lock", res.Locked, "held_until", res.LockedUntil)
	} else if res.Locked > 0 {
		log.Debug("retention: the ledger's objects are all held by S3 Object Lock; consolidated once their lock ends", "held", res.Locked, "held_until", res.LockedUntil)
	}
	return res
}
