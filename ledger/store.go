package ledger

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ddbtape/ddbtape/storage"
)

// Prefix is where a table's ledger lives.
func Prefix(table string) string { return table + "/ledger/" }

func logPrefix(table string) string   { return Prefix(table) + "log/" }
func statePrefix(table string) string { return Prefix(table) + "state/" }

// maxObject bounds how much of one ledger object is read.
const maxObject = 256 << 20

// Read combines every object of table's ledger in b. A table without a ledger gives an
// empty State. An object that cannot be parsed is an error wrapping ErrCorrupt that names
// it; one deleted while reading (a consolidation ran) makes it list again.
func Read(ctx context.Context, b storage.Bucket, table string) (State, error) {
	for attempt := 0; ; attempt++ {
		st, err := read(ctx, b, table)
		if errors.Is(err, storage.ErrNotFound) && attempt < 3 {
			continue
		}
		return st, err
	}
}

func read(ctx context.Context, b storage.Bucket, table string) (State, error) {
	var st State
	st.init()
	objs, err := b.List(ctx, Prefix(table))
	if err != nil {
		return State{}, fmt.Errorf("list the ledger of %s: %w", table, err)
	}
	for _, o := range objs {
		if !strings.HasSuffix(o.Key, ".json") {
			continue
		}
		e, err := readEntry(ctx, b, o.Key)
		if err != nil {
			return State{}, err
		}
		st.Add(e)
		st.Objects++
	}
	return st, nil
}

// ReadObject reads the ledger object under key (a key under Prefix, ending in .json). An
// object that cannot be read as an Entry is an error wrapping ErrCorrupt that names it.
func ReadObject(ctx context.Context, b storage.Bucket, key string) (Entry, error) {
	return readEntry(ctx, b, key)
}

func readEntry(ctx context.Context, b storage.Bucket, key string) (Entry, error) {
	rc, err := b.Open(ctx, key)
	if err != nil {
		return Entry{}, fmt.Errorf("read ledger object %s: %w", storage.URL(b, key), err)
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, maxObject))
	if err != nil {
		return Entry{}, fmt.Errorf("read ledger object %s: %w", storage.URL(b, key), err)
	}
	var e Entry
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&e); err != nil {
		return Entry{}, fmt.Errorf("ledger object %s: %v: %w", storage.URL(b, key), err, ErrCorrupt)
	}
	if e.Version < 1 || e.Version > Version {
		return Entry{}, fmt.Errorf("ledger object %s has format version %d, this ddbtape reads up to %d (upgrade ddbtape): %w",
			storage.URL(b, key), e.Version, Version, ErrCorrupt)
	}
	return e, nil
}

// Writer adds facts to a table's ledger. Facts are collected by Add and written together
// by Flush, as one new object. A Writer is safe for concurrent use.
type Writer struct {
	bucket storage.Bucket
	table  string
	id     string
	now    func() time.Time

	mu      sync.Mutex
	pending Entry
	n       int

	flushMu sync.Mutex
}

// NewWriter writes to table's ledger in b as writer id (a worker id; made safe for an
// object name). now is the clock of object names (nil: time.Now).
func NewWriter(b storage.Bucket, table, id string, now func() time.Time) *Writer {
	if now == nil {
		now = time.Now
	}
	return &Writer{bucket: b, table: table, id: safeName(id), now: now}
}

// Add queues the facts of e for the next Flush.
func (w *Writer) Add(e Entry) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.pending.Streams = append(w.pending.Streams, e.Streams...)
	w.pending.Shards = append(w.pending.Shards, e.Shards...)
	w.pending.Marks = append(w.pending.Marks, e.Marks...)
	w.pending.Gaps = append(w.pending.Gaps, e.Gaps...)
	w.pending.Objects = append(w.pending.Objects, e.Objects...)
}

// Pending reports whether facts wait for a Flush.
func (w *Writer) Pending() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return !w.pending.Empty()
}

// Flush writes the queued facts as one new object; nothing when none are queued. On
// failure the facts stay queued for the next Flush. It returns when the object is durable.
func (w *Writer) Flush(ctx context.Context) error {
	w.flushMu.Lock()
	defer w.flushMu.Unlock()
	w.mu.Lock()
	e := w.pending
	w.pending = Entry{}
	w.mu.Unlock()
	if e.Empty() {
		return nil
	}
	e.Version, e.Table, e.Writer, e.WrittenAt = Version, w.table, w.id, w.now().UTC()
	err := w.create(ctx, logPrefix(w.table), e)
	if err != nil {
		w.mu.Lock()
		w.pending.Streams = append(e.Streams, w.pending.Streams...)
		w.pending.Shards = append(e.Shards, w.pending.Shards...)
		w.pending.Marks = append(e.Marks, w.pending.Marks...)
		w.pending.Gaps = append(e.Gaps, w.pending.Gaps...)
		w.pending.Objects = append(e.Objects, w.pending.Objects...)
		w.mu.Unlock()
	}
	return err
}

// create stores e under a new name in prefix. A name taken already (a retried create
// whose first answer was lost, or another writer with the same id) is not ours to keep:
// the facts go under the next name, and a duplicate is harmless.
func (w *Writer) create(ctx context.Context, prefix string, e Entry) error {
	data, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("encode ledger entry: %w", err)
	}
	data = append(data, '\n')
	sum := sha256.Sum256(data)
	for range 100 {
		w.mu.Lock()
		w.n++
		n := w.n
		w.mu.Unlock()
		key := fmt.Sprintf("%s%s-%s-%06d.json", prefix, e.WrittenAt.Format("20060102T150405.000Z"), w.id, n)
		err := w.bucket.Create(ctx, key, storage.Sealed(bytes.NewReader(data), hex.EncodeToString(sum[:])))
		if errors.Is(err, storage.ErrExists) {
			continue
		}
		if err != nil {
			return fmt.Errorf("write ledger object %s: %w", storage.URL(w.bucket, key), err)
		}
		return nil
	}
	return fmt.Errorf("write ledger of %s: every name taken (is another writer using id %s?)", w.table, w.id)
}

// Consolidation is what one Consolidate did.
type Consolidation struct {
	// Replaced counts the ledger objects combined into the new state and deleted.
	Replaced int
	// Locked counts the ledger objects left because their Object Lock retention has not
	// ended; LockedUntil is the earliest end among them.
	Locked      int
	LockedUntil time.Time
	// Pruned counts the file facts left out because their files are gone.
	Pruned int
}

// Consolidate writes one state object combining the ledger objects of the table it lists,
// then deletes those objects. Readers get the same answer before, during and after.
//
// Under Object Lock it takes, oldest first, the objects whose retention has ended and
// stops at the first still held (later ones are held at least as long); held objects stay
// and are read as they are. Nothing is written unless at least two objects can be
// replaced.
//
// exists, when set, is called after the ledger was read and lists which recorded files
// are still stored; facts of the others are left out of the state. A file is stored
// before its fact is written, so one missing from a listing made after the fact was read
// was deleted.
func (w *Writer) Consolidate(ctx context.Context, exists func(ctx context.Context) (map[string]bool, error)) (Consolidation, error) {
	var res Consolidation
	objs, err := w.bucket.List(ctx, Prefix(w.table))
	if err != nil {
		return res, fmt.Errorf("list the ledger of %s: %w", w.table, err)
	}
	objs = slices.DeleteFunc(objs, func(o storage.Object) bool { return !strings.HasSuffix(o.Key, ".json") })
	slices.SortStableFunc(objs, func(a, b storage.Object) int { return a.ModTime.Compare(b.ModTime) })
	now := w.now()
	for i, o := range objs {
		r, err := storage.RetentionOf(ctx, w.bucket, o.Key)
		if errors.Is(err, storage.ErrNotFound) {
			continue // another consolidation took it
		}
		if err != nil {
			return res, fmt.Errorf("read the retention of ledger object %s: %w", storage.URL(w.bucket, o.Key), err)
		}
		if r.Holds(now) {
			res.Locked, res.LockedUntil = len(objs)-i, r.Until
			objs = objs[:i]
			break
		}
	}
	var st State
	st.init()
	var read []string
	for _, o := range objs {
		e, err := readEntry(ctx, w.bucket, o.Key)
		if errors.Is(err, storage.ErrNotFound) {
			continue // another consolidation took it; its state has it
		}
		if err != nil {
			return res, err
		}
		st.Add(e)
		read = append(read, o.Key)
	}
	if len(read) < 2 {
		return res, nil
	}
	if exists != nil && len(st.Files) > 0 {
		have, err := exists(ctx)
		if err != nil {
			return res, err
		}
		for k := range st.Files {
			if !have[k] {
				delete(st.Files, k)
				delete(st.ObjectConflicts, k)
				res.Pruned++
			}
		}
	}
	e := st.Entry(w.table, w.id, now.UTC())
	if err := w.create(ctx, statePrefix(w.table), e); err != nil {
		return res, err
	}
	for _, k := range read {
		if err := w.bucket.Delete(ctx, k); err != nil {
			// What stays is read again and combined: harmless, only slower.
			return res, fmt.Errorf("delete consolidated ledger object %s: %w", storage.URL(w.bucket, k), err)
		}
		res.Replaced++
	}
	return res, nil
}

// ConsolidateTable consolidates table's ledger in b as writer id (Consolidate), leaving
// out the facts of files missing from a listing of filesPrefix (where the recorded files
// live, e.g. the table's change segments), which it makes after reading the ledger.
func ConsolidateTable(ctx context.Context, b storage.Bucket, table, id, filesPrefix string, now func() time.Time) (Consolidation, error) {
	return NewWriter(b, table, id, now).Consolidate(ctx, func(ctx context.Context) (map[string]bool, error) {
		objs, err := b.List(ctx, filesPrefix)
		if err != nil {
			return nil, fmt.Errorf("list %s: %w", storage.URL(b, filesPrefix), err)
		}
		have := make(map[string]bool, len(objs))
		for _, o := range objs {
			have[o.Key] = true
		}
		return have, nil
	})
}

// safeName keeps the characters of s that are safe in an object name.
func safeName(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '_':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	if b.Len() == 0 {
		return "w"
	}
	return b.String()
}
