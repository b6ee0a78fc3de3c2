// Package file is the checkpoint store kept in a storage.Bucket (a directory or S3): one
// small JSON document per table, "<prefix><table>.json", replaced atomically on every save.
//
// One Store serialises its own saves, so the shard readers of one capture process can save
// concurrently. Two processes saving the same table would overwrite each other's shards:
// the file store is for one capture process per table (the lease table of the DynamoDB
// backend is for fleets). As a last line of defence a save never moves a shard backwards,
// so a stale writer cannot undo what a newer one recorded through this Store.
package file

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/ddbtape/ddbtape/checkpoint"
	"github.com/ddbtape/ddbtape/shards"
	"github.com/ddbtape/ddbtape/storage"
)

var _ checkpoint.Store = (*Store)(nil)

// ErrBackwards is returned (wrapped) by Save when the new position is behind the recorded
// one: its sequence number is lower, or it un-finishes a finished shard. It means another
// writer got further with this table; this one must stop rather than move the checkpoint
// back.
var ErrBackwards = checkpoint.ErrBackwards

// maxDocumentSize bounds what Load reads: a table with thousands of shards fits in a few
// MB, so anything far larger is not a checkpoint and must not exhaust memory.
const maxDocumentSize = 64 << 20

// Store keeps checkpoints as JSON documents in a bucket.
type Store struct {
	b      storage.Bucket
	prefix string

	mu     sync.Mutex
	tables map[string]checkpoint.Table // last state loaded or saved, by table
}

// New returns a store whose documents live at <prefix><table>.json in b; prefix is "" or
// ends in "/" (e.g. "orders/checkpoints/").
func New(b storage.Bucket, prefix string) *Store {
	return &Store{b: b, prefix: prefix, tables: map[string]checkpoint.Table{}}
}

// Key is the object key of table's document.
func (s *Store) Key(table string) string { return s.prefix + table + ".json" }

// corruptError reads as one line that names the document and what to do, and wraps both
// checkpoint.ErrCorrupt and the cause.
type corruptError struct {
	name  string
	cause error
}

func (e *corruptError) Error() string {
	return fmt.Sprintf("checkpoint file %s is corrupt: %v; move it aside to start over from the stream's trim horizon, or restore it from backup", e.name, e.cause)
}

func (e *corruptError) Unwrap() []error { return []error{checkpoint.ErrCorrupt, e.cause} }

// Load reads table's document. Nothing recorded yet gives an empty Table with a non-nil
// Shards map; an unreadable document, or one for another table or of an unknown
// format_version, gives an error wrapping checkpoint.ErrCorrupt, and the document is left
// as it is.
func (s *Store) Load(ctx context.Context, table string) (checkpoint.Table, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, err := s.load(ctx, table)
	if err != nil {
		return checkpoint.Table{}, err
	}
	return clone(t), nil
}

// load reads the document afresh (another process, e.g. `status`, may read while capture
// writes; a fresh Load sees the latest) and caches it for the saves that follow.
func (s *Store) load(ctx context.Context, table string) (checkpoint.Table, error) {
	key := s.Key(table)
	rc, err := s.b.Open(ctx, key)
	if errors.Is(err, storage.ErrNotFound) {
		t := checkpoint.Table{Table: table, Shards: map[string]checkpoint.Position{}}
		s.tables[table] = t
		return t, nil
	}
	if err != nil {
		return checkpoint.Table{}, fmt.Errorf("load checkpoint of %s: %w", table, err)
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, maxDocumentSize+1))
	if err != nil {
		return checkpoint.Table{}, fmt.Errorf("load checkpoint of %s: read %s: %w", table, storage.URL(s.b, key), err)
	}
	if len(data) > maxDocumentSize {
		return checkpoint.Table{}, &corruptError{name: storage.URL(s.b, key), cause: fmt.Errorf("larger than %d bytes", maxDocumentSize)}
	}
	t, err := parseDocument(data, table)
	if err != nil {
		return checkpoint.Table{}, &corruptError{name: storage.URL(s.b, key), cause: err}
	}
	s.tables[table] = t
	return t, nil
}

// cached returns the state the next save builds on, loading it on first use.
func (s *Store) cached(ctx context.Context, table string) (checkpoint.Table, error) {
	if t, ok := s.tables[table]; ok {
		return t, nil
	}
	return s.load(ctx, table)
}

// Save records pos for its shard. It refuses, with an error wrapping ErrBackwards, a
// position whose sequence number is lower than the recorded one or that un-finishes a
// finished shard; it refuses to overwrite a corrupt document.
func (s *Store) Save(ctx context.Context, table string, pos checkpoint.Position) error {
	if pos.ShardID == "" {
		return fmt.Errorf("save checkpoint of %s: position names no shard", table)
	}
	if !validSequence(pos.SequenceNumber) {
		return fmt.Errorf("save checkpoint of %s shard %s: sequence number %q is not a decimal number", table, pos.ShardID, pos.SequenceNumber)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t, err := s.cached(ctx, table)
	if err != nil {
		return err
	}
	if old, ok := t.Shards[pos.ShardID]; ok {
		if shards.SequenceNumber(pos.SequenceNumber).Compare(shards.SequenceNumber(old.SequenceNumber)) < 0 {
			return fmt.Errorf("save checkpoint of %s shard %s at sequence %q, behind the recorded %q: %w",
				table, pos.ShardID, pos.SequenceNumber, old.SequenceNumber, ErrBackwards)
		}
		if old.Finished && !pos.Finished {
			return fmt.Errorf("save checkpoint of %s shard %s as unfinished, but it is recorded finished: %w",
				table, pos.ShardID, ErrBackwards)
		}
	}
	next := clone(t)
	next.Shards[pos.ShardID] = normalisePosition(pos)
	return s.store(ctx, table, next)
}

// AddGap records gap; recording the same gap again changes nothing.
func (s *Store) AddGap(ctx context.Context, table string, gap checkpoint.Gap) error {
	if gap.ShardID == "" {
		return fmt.Errorf("add gap to checkpoint of %s: gap names no shard", table)
	}
	if !validSequence(gap.AfterSequence) {
		return fmt.Errorf("add gap to checkpoint of %s shard %s: sequence number %q is not a decimal number", table, gap.ShardID, gap.AfterSequence)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t, err := s.cached(ctx, table)
	if err != nil {
		return err
	}
	gap = normaliseGap(gap)
	if slices.ContainsFunc(t.Gaps, func(g checkpoint.Gap) bool { return sameGap(g, gap) }) {
		return nil
	}
	next := clone(t)
	next.Gaps = append(next.Gaps, gap)
	return s.store(ctx, table, next)
}

// store writes next and, only once it is durable, makes it the cached state.
func (s *Store) store(ctx context.Context, table string, next checkpoint.Table) error {
	data, err := encodeDocument(next)
	if err != nil {
		return fmt.Errorf("save checkpoint of %s: %w", table, err)
	}
	if err := s.b.Put(ctx, s.Key(table), bytes.NewReader(data)); err != nil {
		return fmt.Errorf("save checkpoint of %s: %w", table, err)
	}
	s.tables[table] = next
	return nil
}

func clone(t checkpoint.Table) checkpoint.Table {
	shards := maps.Clone(t.Shards)
	if shards == nil {
		shards = map[string]checkpoint.Position{}
	}
	return checkpoint.Table{Table: t.Table, Shards: shards, Gaps: slices.Clone(t.Gaps)}
}

// utc drops the monotonic reading and the zone so what Load returns equals what was saved
// whatever zone the caller used.
func utc(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC().Round(0)
}

func normalisePosition(p checkpoint.Position) checkpoint.Position {
	p.CoveredFrom = utc(p.CoveredFrom)
	p.LastRecordTime = utc(p.LastRecordTime)
	p.CoveredUntil = utc(p.CoveredUntil)
	p.UpdatedAt = utc(p.UpdatedAt)
	return p
}

func normaliseGap(g checkpoint.Gap) checkpoint.Gap {
	g.From = utc(g.From)
	g.DetectedAt = utc(g.DetectedAt)
	return g
}

func sameGap(a, b checkpoint.Gap) bool {
	return a.StreamARN == b.StreamARN && a.ShardID == b.ShardID && a.AfterSequence == b.AfterSequence &&
		a.From.Equal(b.From) && a.DetectedAt.Equal(b.DetectedAt) && a.Reason == b.Reason
}
