package catalog

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/ddbtape/ddbtape/checkpoint"
	"github.com/ddbtape/ddbtape/storage"
	"github.com/ddbtape/ddbtape/writer"
)

// CheckpointLoader is the part of checkpoint.Store a listing reads.
type CheckpointLoader interface {
	Load(ctx context.Context, table string) (checkpoint.Table, error)
}

// List reads what the backup of table holds: its snapshots (with their manifests when
// complete), its change segments and its checkpoint. A manifest that cannot be read or
// parsed is an error naming it: a restore must not quietly pick an older snapshot.
func List(ctx context.Context, b storage.Bucket, cp CheckpointLoader, table string) (Listing, error) {
	l := Listing{Table: table}
	snaps, err := b.List(ctx, writer.SnapshotsPrefix(table))
	if err != nil {
		return Listing{}, fmt.Errorf("list snapshots of %s: %w", table, err)
	}
	seen := map[string]int{} // snapshot id -> index in l.Snapshots
	for _, o := range snaps {
		rest := strings.TrimPrefix(o.Key, writer.SnapshotsPrefix(table))
		id, file, ok := strings.Cut(rest, "/")
		if !ok || id == "" {
			continue
		}
		i, ok := seen[id]
		if !ok {
			i = len(l.Snapshots)
			seen[id] = i
			l.Snapshots = append(l.Snapshots, Snapshot{ID: id})
		}
		if file != writer.ManifestName {
			continue
		}
		m, err := readManifest(ctx, b, o.Key)
		if err != nil {
			return Listing{}, err
		}
		if m.SnapshotID != id || m.TableName != table {
			return Listing{}, fmt.Errorf("manifest %s describes snapshot %s of table %s: %w", storage.URL(b, o.Key), m.SnapshotID, m.TableName, writer.ErrInvalidManifest)
		}
		l.Snapshots[i].Manifest = &m
	}
	objs, err := b.List(ctx, writer.ChangesPrefix(table))
	if err != nil {
		return Listing{}, fmt.Errorf("list segments of %s: %w", table, err)
	}
	for _, o := range objs {
		n, ok := writer.ParseSegmentKey(o.Key)
		if !ok || n.Table != table {
			continue
		}
		l.Segments = append(l.Segments, Segment{Key: o.Key, Size: o.Size, Name: n})
	}
	if l.Checkpoint, err = cp.Load(ctx, table); err != nil {
		return Listing{}, fmt.Errorf("load checkpoint of %s: %w", table, err)
	}
	return l, nil
}

func readManifest(ctx context.Context, b storage.Bucket, key string) (writer.Manifest, error) {
	rc, err := b.Open(ctx, key)
	if err != nil {
		return writer.Manifest{}, fmt.Errorf("read manifest %s: %w", storage.URL(b, key), err)
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
