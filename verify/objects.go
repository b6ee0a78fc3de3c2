package verify

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/ddbtape/ddbtape/catalog"
	"github.com/ddbtape/ddbtape/ledger"
	"github.com/ddbtape/ddbtape/replay"
	"github.com/ddbtape/ddbtape/storage"
	"github.com/ddbtape/ddbtape/writer"
)

// Checking every object of a backup (verify --objects)
//
// Objects reads every file of a table's backup, without DynamoDB, and checks each one
// against what the backup itself records about it:
//
//   - a change segment against the size and SHA-256 its ledger fact records, then decoded
//     whole (every row of its own shard); a segment without a fact (written before ddbtape
//     recorded them, or by a capture that crashed before its next ledger write) can only
//     be decoded, and is counted apart as unrecorded;
//   - a snapshot part against its manifest's size, SHA-256 and row count, for every
//     complete snapshot; a part its manifest lists that is not there is missing; a part
//     file no manifest lists (left by an interrupted run) is counted, not a problem;
//   - each manifest and each ledger object is decoded;
//   - a segment the ledger records that is gone is missing, unless retention may have
//     deleted it: retention deletes only segments all of whose records precede the
//     replay start of the oldest snapshot it keeps, so a recorded segment in an hour
//     partition from that replay start's hour on must be there.
//
// Nothing is written and no lock is taken: a retention run deleting files meanwhile shows
// as files missing, so check a backup retention does not touch at the same time, or again.

// ObjectCounts counts one kind of object.
type ObjectCounts struct {
	// Checked were read and matched what is recorded of them (for segments: their
	// ledger fact; for parts: their manifest).
	Checked int
	// Unrecorded were read and decoded, with nothing recorded to check them against.
	Unrecorded int
	// Damaged differ from what is recorded, or cannot be decoded.
	Damaged int
	// Missing are recorded but not there.
	Missing int
	Bytes   int64
}

// ObjectsReport is what Objects found.
type ObjectsReport struct {
	Table     string
	Segments  ObjectCounts
	Parts     ObjectCounts
	Manifests ObjectCounts
	Ledger    ObjectCounts
	// Incomplete counts snapshot directories without a manifest (running, interrupted
	// or being deleted): not read.
	Incomplete int
	// Orphans counts part files no manifest lists (an interrupted run's).
	Orphans int
	// Problems has one line per damaged, missing or conflicting file, naming it.
	Problems []string
}

// OK reports whether nothing is damaged or missing.
func (r ObjectsReport) OK() bool { return len(r.Problems) == 0 }

// Summary is the report in a few lines, for people.
func (r ObjectsReport) Summary() string {
	line := func(what string, c ObjectCounts) string {
		s := fmt.Sprintf("%s: %d checked", what, c.Checked)
		if c.Unrecorded > 0 {
			s += fmt.Sprintf(", %d without a recorded checksum (decoded only)", c.Unrecorded)
		}
		return s + fmt.Sprintf(", %d damaged, %d missing (%d bytes read)", c.Damaged, c.Missing, c.Bytes)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "objects of %s:\n", r.Table)
	fmt.Fprintf(&b, "  %s\n", line("change segments", r.Segments))
	fmt.Fprintf(&b, "  %s\n", line("snapshot parts", r.Parts))
	fmt.Fprintf(&b, "  %s, %d incomplete snapshots not read, %d part files no manifest lists\n", line("manifests", r.Manifests), r.Incomplete, r.Orphans)
	fmt.Fprintf(&b, "  %s\n", line("ledger objects", r.Ledger))
	return b.String()
}

// Objects checks every object of table's backup in b, as the comment above says. tempDir
// holds downloaded copies of segments and parts while they are checked. The error is
// for what stopped the check (the bucket unreachable), never for a damaged file.
func Objects(ctx context.Context, b storage.Bucket, table, tempDir string) (ObjectsReport, error) {
	r := ObjectsReport{Table: table}
	st, err := r.checkLedger(ctx, b, table)
	if err != nil {
		return r, err
	}
	manifests, err := r.checkSnapshots(ctx, b, table, tempDir)
	if err != nil {
		return r, err
	}
	if err := r.checkSegments(ctx, b, table, tempDir, st, manifests); err != nil {
		return r, err
	}
	for _, k := range sortedKeys(st.ObjectConflicts) {
		r.Problems = append(r.Problems, fmt.Sprintf("the ledger records %d different checksums of %s: %+v", len(st.ObjectConflicts[k]), storage.URL(b, k), st.ObjectConflicts[k]))
	}
	return r, nil
}

// damaged reports whether err says a file is unusable (rather than unreachable).
func damaged(err error) bool {
	return errors.Is(err, writer.ErrChecksum) || errors.Is(err, writer.ErrCorrupt) || errors.Is(err, writer.ErrUnknownSchema) ||
		errors.Is(err, ledger.ErrCorrupt) || errors.Is(err, writer.ErrInvalidManifest)
}

func (r *ObjectsReport) checkLedger(ctx context.Context, b storage.Bucket, table string) (ledger.State, error) {
	var st ledger.State
	objs, err := b.List(ctx, ledger.Prefix(table))
	if err != nil {
		return st, fmt.Errorf("list the ledger of %s: %w", table, err)
	}
	for _, o := range objs {
		if !strings.HasSuffix(o.Key, ".json") {
			continue
		}
		e, err := ledger.ReadObject(ctx, b, o.Key)
		switch {
		case errors.Is(err, storage.ErrNotFound):
			continue // consolidated while listed; its facts are in a state object
		case damaged(err):
			r.Ledger.Damaged++
			r.Problems = append(r.Problems, err.Error())
			continue
		case err != nil:
			return st, err
		}
		r.Ledger.Checked++
		r.Ledger.Bytes += o.Size
		st.Add(e)
	}
	return st, nil
}

// checkSnapshots checks every manifest and the parts of every complete snapshot, and
// returns the manifests that could be read.
func (r *ObjectsReport) checkSnapshots(ctx context.Context, b storage.Bucket, table, tempDir string) ([]writer.Manifest, error) {
	prefix := writer.SnapshotsPrefix(table)
	objs, err := b.List(ctx, prefix)
	if err != nil {
		return nil, fmt.Errorf("list snapshots of %s: %w", table, err)
	}
	dirs := map[string]map[string]storage.Object{}
	var ids []string
	for _, o := range objs {
		id, name, ok := strings.Cut(strings.TrimPrefix(o.Key, prefix), "/")
		if !ok || id == "" {
			continue
		}
		if dirs[id] == nil {
			dirs[id] = map[string]storage.Object{}
			ids = append(ids, id)
		}
		dirs[id][name] = o
	}
	reader := replay.NewBucketReader(b, table, tempDir)
	var out []writer.Manifest
	for _, id := range ids {
		mo, ok := dirs[id][writer.ManifestName]
		if !ok {
			r.Incomplete++
			continue
		}
		m, err := readManifest(ctx, b, mo.Key)
		if errors.Is(err, storage.ErrNotFound) {
			r.Incomplete++ // deleted while listed (retention, manifest first)
			continue
		}
		if err == nil && (m.SnapshotID != id || m.TableName != table) {
			err = fmt.Errorf("manifest %s describes snapshot %s of table %s: %w", storage.URL(b, mo.Key), m.SnapshotID, m.TableName, writer.ErrInvalidManifest)
		}
		if damaged(err) {
			r.Manifests.Damaged++
			r.Problems = append(r.Problems, err.Error())
			continue
		}
		if err != nil {
			return nil, err
		}
		r.Manifests.Checked++
		r.Manifests.Bytes += mo.Size
		out = append(out, m)
		listed := map[string]bool{}
		for _, mp := range m.Parts {
			listed[mp.Name] = true
			url := storage.URL(b, writer.SnapshotDir(table, id)+mp.Name)
			if _, ok := dirs[id][mp.Name]; !ok {
				r.Parts.Missing++
				r.Problems = append(r.Problems, fmt.Sprintf("snapshot part %s is missing (its manifest lists it)", url))
				continue
			}
			err := reader.ReadPart(ctx, id, mp, func(writer.SnapshotItem) error { return nil })
			switch {
			case errors.Is(err, storage.ErrNotFound):
				r.Parts.Missing++
				r.Problems = append(r.Problems, fmt.Sprintf("snapshot part %s is missing (its manifest lists it)", url))
			case damaged(err):
				r.Parts.Damaged++
				r.Problems = append(r.Problems, err.Error())
			case err != nil:
				return nil, err
			default:
				r.Parts.Checked++
				r.Parts.Bytes += mp.Bytes
			}
		}
		for name := range dirs[id] {
			if strings.HasPrefix(name, "part-") && !listed[name] {
				r.Orphans++
			}
		}
	}
	return out, nil
}

func (r *ObjectsReport) checkSegments(ctx context.Context, b storage.Bucket, table, tempDir string, st ledger.State, manifests []writer.Manifest) error {
	objs, err := b.List(ctx, writer.ChangesPrefix(table))
	if err != nil {
		return fmt.Errorf("list segments of %s: %w", table, err)
	}
	reader := replay.NewBucketReader(b, table, tempDir)
	present := map[string]bool{}
	for _, o := range objs {
		n, ok := writer.ParseSegmentKey(o.Key)
		if !ok || n.Table != table {
			continue
		}
		present[o.Key] = true
		seg := catalog.Segment{Key: o.Key, Size: o.Size, Name: n, Recorded: st.Files[o.Key]}
		err := reader.ReadSegment(ctx, seg, func(*writer.Change) error { return nil })
		switch {
		case errors.Is(err, storage.ErrNotFound):
			continue // deleted while listed (retention)
		case damaged(err):
			r.Segments.Damaged++
			r.Problems = append(r.Problems, err.Error())
			continue
		case err != nil:
			return err
		}
		if seg.Recorded.SHA256 == "" {
			r.Segments.Unrecorded++
		} else {
			r.Segments.Checked++
		}
		r.Segments.Bytes += o.Size
	}
	// Recorded segments that are gone, where retention cannot have deleted them.
	keepFrom, bounded := time.Time{}, false
	for _, m := range manifests {
		if from := catalog.ReplayFrom(m.StartedAt).UTC().Truncate(time.Hour); !bounded || from.Before(keepFrom) {
			keepFrom, bounded = from, true
		}
	}
	for _, k := range sortedKeys(st.Files) {
		n, ok := writer.ParseSegmentKey(k)
		if present[k] || !ok || n.Table != table || bounded && n.Hour.Before(keepFrom) {
			continue
		}
		r.Segments.Missing++
		r.Problems = append(r.Problems, fmt.Sprintf("segment %s is missing: the ledger records it (%d bytes) and retention keeps its hour", storage.URL(b, k), st.Files[k].Size))
	}
	return nil
}

func readManifest(ctx context.Context, b storage.Bucket, key string) (writer.Manifest, error) {
	rc, err := b.Open(ctx, key)
	if err != nil {
		return writer.Manifest{}, err
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, 64<<20))
	if err != nil {
		return writer.Manifest{}, fmt.Errorf("read manifest %s: %w", storage.URL(b, key), err)
	}
	m, err := writer.DecodeManifest(data)
	if err != nil {
		return writer.Manifest{}, fmt.Errorf("manifest %s: %w", storage.URL(b, key), err)
	}
	return m, nil
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
