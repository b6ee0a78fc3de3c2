package catalog

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/ddbtape/ddbtape/checkpoint"
	"github.com/ddbtape/ddbtape/ledger"
	"github.com/ddbtape/ddbtape/storage"
	"github.com/ddbtape/ddbtape/writer"
)

// Snapshot is one snapshot directory of the listing.
type Snapshot struct {
	ID string
	// Manifest is nil while the snapshot is incomplete (no manifest was written, or the
	// scan is still running); such a snapshot is never used.
	Manifest *writer.Manifest
}

// Segment is one change segment of the listing.
type Segment struct {
	Key  string // object key in the bucket
	Size int64
	Name writer.SegmentName
	// Recorded is the size and SHA-256 the ledger holds for the file (ledger.Object),
	// which readers check before they trust it; zero for a segment without one (written
	// before ddbtape recorded them, or by a capture that crashed before its next ledger
	// write).
	Recorded ledger.Object
}

// Where a listing's coverage came from (Listing.Sources).
const (
	SourceLedger     = "ledger"
	SourceCheckpoint = "checkpoint store"
)

// Listing is everything a plan looks at: what the bucket holds for a table, and the
// coverage its ledger (and, when given, a checkpoint store) proves.
type Listing struct {
	Table     string
	Snapshots []Snapshot
	Segments  []Segment
	// Ledger is the combination of the table's ledger and of the positions of the
	// checkpoint store read with it (see FromCheckpoint).
	Ledger ledger.State
	// Sources says where the coverage came from: SourceLedger, SourceCheckpoint or both.
	Sources []string
}

// CheckpointLoader is the part of checkpoint.Store a listing reads.
type CheckpointLoader interface {
	Load(ctx context.Context, table string) (checkpoint.Table, error)
}

// Catalog reads the backup of one table in a bucket. It reads each snapshot's manifest
// once (a manifest never changes once written), so a long-running process can ask again
// and again cheaply. It is safe for concurrent use.
type Catalog struct {
	bucket storage.Bucket
	table  string
	// checkpoints, when set, adds the coverage of a checkpoint store to the ledger's.
	checkpoints CheckpointLoader

	mu        sync.Mutex
	manifests map[string]*writer.Manifest
}

// New reads the backup of table in b. checkpoints may be nil: the ledger in b alone then
// says what is covered; a checkpoint store can only add coverage to it (fresher positions,
// or a backup written before the ledger existed).
func New(b storage.Bucket, table string, checkpoints CheckpointLoader) *Catalog {
	return &Catalog{bucket: b, table: table, checkpoints: checkpoints, manifests: map[string]*writer.Manifest{}}
}

// Bucket is the bucket the catalog reads.
func (c *Catalog) Bucket() storage.Bucket { return c.bucket }

// Table is the table whose backup the catalog reads.
func (c *Catalog) Table() string { return c.table }

// List reads what the backup holds: its snapshots (with their manifests when complete),
// its change segments and its coverage. A manifest or ledger object that cannot be read
// or parsed is an error naming it: a restore must not quietly pick an older snapshot.
func (c *Catalog) List(ctx context.Context) (Listing, error) {
	l, err := c.Coverage(ctx)
	if err != nil {
		return Listing{}, err
	}
	objs, err := c.bucket.List(ctx, writer.ChangesPrefix(c.table))
	if err != nil {
		return Listing{}, fmt.Errorf("list segments of %s: %w", c.table, err)
	}
	for _, o := range objs {
		n, ok := writer.ParseSegmentKey(o.Key)
		if !ok || n.Table != c.table {
			continue
		}
		l.Segments = append(l.Segments, Segment{Key: o.Key, Size: o.Size, Name: n, Recorded: l.Ledger.Files[o.Key]})
	}
	return l, nil
}

// Coverage is List without the change segments, which may be many: enough for windows,
// status and schedules, not for a plan's segment selection.
func (c *Catalog) Coverage(ctx context.Context) (Listing, error) {
	snaps, err := c.Snapshots(ctx)
	if err != nil {
		return Listing{}, err
	}
	l := Listing{Table: c.table, Snapshots: snaps}
	if l.Ledger, err = ledger.Read(ctx, c.bucket, c.table); err != nil {
		return Listing{}, err
	}
	if !l.Ledger.Empty() {
		l.Sources = append(l.Sources, SourceLedger)
	}
	if c.checkpoints != nil {
		cp, err := c.checkpoints.Load(ctx, c.table)
		if err != nil {
			return Listing{}, fmt.Errorf("load checkpoint of %s: %w", c.table, err)
		}
		if len(cp.Shards) > 0 || len(cp.Gaps) > 0 {
			l.Ledger.Merge(FromCheckpoint(cp))
			l.Sources = append(l.Sources, SourceCheckpoint)
		}
	}
	return l, nil
}

// Snapshots returns every snapshot directory of the table; Manifest is nil for an
// incomplete one. A manifest deleted since the listing (by retention) makes its snapshot
// incomplete.
func (c *Catalog) Snapshots(ctx context.Context) ([]Snapshot, error) {
	prefix := writer.SnapshotsPrefix(c.table)
	objs, err := c.bucket.List(ctx, prefix)
	if err != nil {
		return nil, fmt.Errorf("list snapshots of %s: %w", c.table, err)
	}
	var out []Snapshot
	seen := map[string]int{}
	for _, o := range objs {
		id, file, ok := strings.Cut(strings.TrimPrefix(o.Key, prefix), "/")
		if !ok || id == "" {
			continue
		}
		i, ok := seen[id]
		if !ok {
			i = len(out)
			seen[id] = i
			out = append(out, Snapshot{ID: id})
		}
		if file != writer.ManifestName {
			continue
		}
		m, err := c.manifest(ctx, o.Key, id)
		if errors.Is(err, storage.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out[i].Manifest = m
	}
	// Forget manifests of snapshots that are gone.
	c.mu.Lock()
	for id := range c.manifests {
		if _, ok := seen[id]; !ok {
			delete(c.manifests, id)
		}
	}
	c.mu.Unlock()
	return out, nil
}

func (c *Catalog) manifest(ctx context.Context, key, id string) (*writer.Manifest, error) {
	c.mu.Lock()
	m := c.manifests[id]
	c.mu.Unlock()
	if m != nil {
		return m, nil
	}
	rc, err := c.bucket.Open(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("read manifest %s: %w", storage.URL(c.bucket, key), err)
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("read manifest %s: %w", storage.URL(c.bucket, key), err)
	}
	dm, err := writer.DecodeManifest(data)
	if err != nil {
		return nil, fmt.Errorf("manifest %s: %w", storage.URL(c.bucket, key), err)
	}
	if dm.SnapshotID != id || dm.TableName != c.table {
		return nil, fmt.Errorf("manifest %s describes snapshot %s of table %s: %w", storage.URL(c.bucket, key), dm.SnapshotID, dm.TableName, writer.ErrInvalidManifest)
	}
	c.mu.Lock()
	c.manifests[id] = &dm
	c.mu.Unlock()
	return &dm, nil
}

// List reads the backup of table in b once; see Catalog.List.
func List(ctx context.Context, b storage.Bucket, cp CheckpointLoader, table string) (Listing, error) {
	return New(b, table, cp).List(ctx)
}

// FromCheckpoint states what a checkpoint store's positions prove, as ledger facts: each
// position claims its shard covered from its CoveredFrom (a child without one inherits
// its parent's: it was read from its start after its parent) until its CoveredUntil, or
// to its end when finished; each recorded gap is a gap.
func FromCheckpoint(t checkpoint.Table) ledger.State {
	var st ledger.State
	for id, p := range t.Shards {
		st.AddShard(ledger.Shard{StreamARN: p.StreamARN, ID: id, ParentID: p.ParentShardID})
		from, ok := effectiveCoveredFrom(id, t.Shards)
		if !ok {
			continue
		}
		st.AddMark(ledger.Mark{StreamARN: p.StreamARN, ShardID: id, From: from, Until: p.CoveredUntil, Finished: p.Finished,
			LastSequence: p.SequenceNumber, LastRecordTime: p.LastRecordTime})
	}
	for _, g := range t.Gaps {
		cause := ledger.CauseTrimmed
		if g.ShardID == checkpoint.AllShards {
			cause = "stream-replaced"
		}
		st.AddGap(ledger.Gap{StreamARN: g.StreamARN, ShardID: g.ShardID, From: g.From, To: g.DetectedAt, DetectedAt: g.DetectedAt,
			Cause: cause, Reason: g.Reason, AfterSequence: g.AfterSequence})
	}
	return st
}

// effectiveCoveredFrom follows zero CoveredFrom up to the parent; false when a shard
// without a parent among pos (a root) records none.
func effectiveCoveredFrom(id string, pos map[string]checkpoint.Position) (time.Time, bool) {
	for hops := 0; hops <= len(pos); hops++ {
		p := pos[id]
		if !p.CoveredFrom.IsZero() {
			return p.CoveredFrom, true
		}
		if _, ok := pos[p.ParentShardID]; !ok || p.ParentShardID == "" {
			return time.Time{}, false
		}
		id = p.ParentShardID
	}
	return time.Time{}, false
}
