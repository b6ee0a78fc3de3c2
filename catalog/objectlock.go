package catalog

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/ddbtape/ddbtape/storage"
	"github.com/ddbtape/ddbtape/writer"
)

// LockStatus is what S3 Object Lock holds of a backup (status shows it).
type LockStatus struct {
	// Enabled is set when the bucket has Object Lock; DefaultMode and DefaultPeriod are
	// its default retention, if any (ddbtape sets one per object instead).
	Enabled       bool          `json:"enabled"`
	DefaultMode   string        `json:"default_mode,omitempty"`
	DefaultPeriod time.Duration `json:"default_period,omitempty"`
	// Modes are the retention modes found on the objects checked.
	Modes []string `json:"modes,omitempty"`
	// EarliestDeletion is the first moment any object checked may be deleted: the
	// earliest end of their retentions, or the time of the check when one of them has
	// none or is past it (Unlocked counts those).
	EarliestDeletion time.Time `json:"earliest_deletion,omitzero"`
	Unlocked         int       `json:"unlocked,omitempty"`
	// Checked counts the objects whose retention was read: every complete snapshot's
	// manifest and the oldest change segments, the objects retention deletes first.
	Checked int `json:"checked"`
}

// lockSample is how many of the oldest segments ObjectLock reads the retention of.
const lockSample = 8

// ObjectLock reads what S3 Object Lock holds of the backup l lists in b at now. ok is
// false when b cannot lock objects (a directory). Objects are locked as they are written,
// each for the same period, so the oldest are the first to be freed: it reads the
// retention of every complete snapshot's manifest (a snapshot goes manifest first) and of
// the oldest segments, not of every object.
func ObjectLock(ctx context.Context, b storage.Bucket, l Listing, now time.Time) (st LockStatus, ok bool, err error) {
	locker, ok := storage.LockerOf(b)
	if !ok {
		return LockStatus{}, false, nil
	}
	cfg, err := locker.LockConfig(ctx)
	if err != nil {
		return LockStatus{}, true, err
	}
	st = LockStatus{Enabled: cfg.Enabled, DefaultMode: cfg.DefaultMode, DefaultPeriod: cfg.DefaultPeriod}
	if !cfg.Enabled {
		return st, true, nil
	}
	var keys []string
	for _, s := range CompleteSnapshots(l.Snapshots) {
		keys = append(keys, writer.ManifestKey(l.Table, s.ID))
	}
	segs := slices.Clone(l.Segments)
	slices.SortFunc(segs, func(a, b Segment) int { return a.Name.Hour.Compare(b.Name.Hour) })
	for _, s := range segs[:min(len(segs), lockSample)] {
		keys = append(keys, s.Key)
	}
	for _, k := range keys {
		r, err := locker.Retention(ctx, k)
		if errors.Is(err, storage.ErrNotFound) {
			continue // deleted since the listing
		}
		if err != nil {
			return st, true, fmt.Errorf("read the Object Lock of %s: %w", storage.URL(b, k), err)
		}
		st.Checked++
		until := r.Until
		if !r.Holds(now) {
			st.Unlocked++
			until = now
		}
		if r.Mode != "" && !slices.Contains(st.Modes, r.Mode) {
			st.Modes = append(st.Modes, r.Mode)
		}
		if st.EarliestDeletion.IsZero() || until.Before(st.EarliestDeletion) {
			st.EarliestDeletion = until
		}
	}
	slices.Sort(st.Modes)
	return st, true, nil
}

// Line says in one line what S3 Object Lock holds of the backup.
func (l LockStatus) Line() string {
	if !l.Enabled {
		return "object lock: none (the bucket does not have S3 Object Lock: anyone allowed to delete can delete the backup)"
	}
	modes := "no retention on the objects checked"
	if len(l.Modes) > 0 {
		modes = strings.Join(l.Modes, " and ")
	}
	s := fmt.Sprintf("object lock: %s", modes)
	if l.DefaultMode != "" {
		s += fmt.Sprintf(" (bucket default: %s for %s)", l.DefaultMode, l.DefaultPeriod)
	}
	switch {
	case l.Checked == 0:
		return s + "; nothing stored yet"
	case l.Unlocked > 0:
		return s + fmt.Sprintf("; earliest deletion: now (%d of the %d oldest objects checked are past their lock or have none)", l.Unlocked, l.Checked)
	}
	return s + fmt.Sprintf("; earliest deletion: %s (the first lock to end among the %d oldest objects)", l.EarliestDeletion.UTC().Format(time.RFC3339), l.Checked)
}
