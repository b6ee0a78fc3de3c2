// Package backuptest writes backups directly with the writer package (snapshot parts and
// manifest, change segments, checkpoint), for restore tests and benchmarks that need no
// DynamoDB. The files are the real thing: a restore cannot tell them from a capture's.
package backuptest

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/ddbtape/ddbtape/checkpoint"
	checkpointfile "github.com/ddbtape/ddbtape/checkpoint/file"
	"github.com/ddbtape/ddbtape/ledger"
	"github.com/ddbtape/ddbtape/storage"
	"github.com/ddbtape/ddbtape/writer"
)

// Builder writes the backup of one table into a bucket.
type Builder struct {
	Bucket storage.Bucket
	Table  string
	// KeySchema and AttributeDefinitions go into manifests; zero: pk (S) as the only key.
	KeySchema            []writer.KeyElement
	AttributeDefinitions []writer.AttributeDefinition
	// SpoolDir holds files being encoded; empty: the system's temporary directory.
	SpoolDir string
	// Shape, when set, adjusts each manifest before it is written (indexes, billing).
	Shape func(m *writer.Manifest)
	// Record writes each segment's size and SHA-256 into the table's ledger, as capture
	// does; without it segments look like those of a backup older than these facts.
	Record bool
}

// Checkpoints is the checkpoint store beside the data, where capture keeps it by default.
func (b *Builder) Checkpoints() *checkpointfile.Store {
	return checkpointfile.New(b.Bucket, writer.CheckpointsPrefix(b.Table))
}

// Snapshot writes a complete snapshot of n items, item(i) giving each, in parts of at most
// partRows rows, and its manifest last.
func (b *Builder) Snapshot(ctx context.Context, id string, started, finished time.Time, n, partRows int, item func(i int) writer.SnapshotItem) (writer.Manifest, error) {
	m := writer.Manifest{
		FormatVersion: writer.ManifestFormatVersion, SnapshotID: id, TableName: b.Table,
		TableARN:  "arn:aws:dynamodb:us-east-1:123456789012:table/" + b.Table,
		StartedAt: started.UTC(), FinishedAt: finished.UTC(), ItemCount: int64(n), Method: "scan",
		KeySchema: b.KeySchema, AttributeDefinitions: b.AttributeDefinitions, BillingMode: "PAY_PER_REQUEST",
	}
	if len(m.KeySchema) == 0 {
		m.KeySchema = []writer.KeyElement{{AttributeName: "pk", KeyType: "HASH"}}
		m.AttributeDefinitions = []writer.AttributeDefinition{{AttributeName: "pk", AttributeType: "S"}}
	}
	if b.Shape != nil {
		b.Shape(&m)
	}
	var part *writer.Part
	flush := func() error {
		if part == nil || part.Len() == 0 {
			return nil
		}
		mp, err := writer.FlushPart(ctx, b.Bucket, part, b.Table, id, len(m.Parts))
		if err != nil {
			return err
		}
		m.Parts = append(m.Parts, mp)
		part = nil
		return nil
	}
	for i := range n {
		if part == nil {
			part = writer.NewPart(b.SpoolDir)
		}
		if err := part.Append(item(i)); err != nil {
			return writer.Manifest{}, err
		}
		if part.Len() >= partRows {
			if err := flush(); err != nil {
				return writer.Manifest{}, err
			}
		}
	}
	if err := flush(); err != nil {
		return writer.Manifest{}, err
	}
	data, err := writer.EncodeManifest(m)
	if err != nil {
		return writer.Manifest{}, err
	}
	if err := b.Bucket.Put(ctx, writer.ManifestKey(b.Table, id), bytes.NewReader(data)); err != nil {
		return writer.Manifest{}, err
	}
	return m, nil
}

// Segment stores changes (one shard, increasing sequence numbers) as one segment.
func (b *Builder) Segment(ctx context.Context, changes []writer.Change) (writer.SegmentName, error) {
	s := writer.NewSegment(b.SpoolDir)
	defer s.Discard()
	for _, c := range changes {
		if err := s.Append(c); err != nil {
			return writer.SegmentName{}, fmt.Errorf("append %s/%s: %w", c.ShardID, c.SequenceNumber, err)
		}
	}
	stored, err := writer.Flush(ctx, b.Bucket, s)
	if err != nil || !b.Record {
		return stored.Name, err
	}
	w := ledger.NewWriter(b.Bucket, b.Table, "backuptest", nil)
	w.Add(ledger.Entry{Objects: []ledger.Object{{Key: stored.Name.Key(), Size: stored.Size, SHA256: stored.SHA256}}})
	return stored.Name, w.Flush(ctx)
}

// Checkpoint saves positions and gaps.
func (b *Builder) Checkpoint(ctx context.Context, positions []checkpoint.Position, gaps ...checkpoint.Gap) error {
	st := b.Checkpoints()
	for _, p := range positions {
		if p.UpdatedAt.IsZero() {
			p.UpdatedAt = time.Now().UTC()
		}
		if err := st.Save(ctx, b.Table, p); err != nil {
			return err
		}
	}
	for _, g := range gaps {
		if err := st.AddGap(ctx, b.Table, g); err != nil {
			return err
		}
	}
	return nil
}
