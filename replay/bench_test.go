package replay_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ddbtape/ddbtape/catalog"
	"github.com/ddbtape/ddbtape/checkpoint"
	"github.com/ddbtape/ddbtape/internal/backuptest"
	"github.com/ddbtape/ddbtape/replay"
	"github.com/ddbtape/ddbtape/storage/dir"
	"github.com/ddbtape/ddbtape/writer"
)

// benchBackup writes a backup of items snapshot items and changes changes (300-byte
// items, two shards) into a new directory.
func benchBackup(b *testing.B, items, changes int) *backuptest.Builder {
	b.Helper()
	ctx := context.Background()
	bucket, err := dir.New(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	bld := &backuptest.Builder{Bucket: bucket, Table: table, SpoolDir: b.TempDir()}
	pad := strings.Repeat("x", 240)
	it := func(k, v int) string {
		return fmt.Sprintf(`{"n":{"N":"%d"},"pad":{"S":"%s"},"pk":{"S":"k%08d"}}`, v, pad, k)
	}
	if _, err := bld.Snapshot(ctx, "s1", t0, t0.Add(time.Minute), items, 100_000, func(i int) writer.SnapshotItem {
		return writer.SnapshotItem{Keys: fmt.Sprintf(`{"pk":{"S":"k%08d"}}`, i), Item: it(i, 0)}
	}); err != nil {
		b.Fatal(err)
	}
	var positions []checkpoint.Position
	for s := range 2 {
		shard := fmt.Sprint("shardId-", s)
		var seg []writer.Change
		for c := range changes / 2 {
			k := (c*7919 + s) % (items + items/2)
			img := it(k, c+1)
			seg = append(seg, writer.Change{TableName: table, StreamARN: stream, ShardID: shard, SequenceNumber: fmt.Sprint(1_000_000 + c),
				EventName: "MODIFY", ApproximateCreationTime: t0.Add(2*time.Minute + time.Duration(c)*time.Millisecond).Truncate(time.Second),
				Keys: fmt.Sprintf(`{"pk":{"S":"k%08d"}}`, k), NewImage: &img, SizeBytes: 300})
			if len(seg) == 10_000 {
				if _, err := bld.Segment(ctx, seg); err != nil {
					b.Fatal(err)
				}
				seg = seg[:0]
			}
		}
		if len(seg) > 0 {
			if _, err := bld.Segment(ctx, seg); err != nil {
				b.Fatal(err)
			}
		}
		positions = append(positions, checkpoint.Position{StreamARN: stream, ShardID: shard, CoveredFrom: t0.Add(-time.Hour), CoveredUntil: t0.Add(24 * time.Hour)})
	}
	if err := bld.Checkpoint(ctx, positions); err != nil {
		b.Fatal(err)
	}
	return bld
}

// BenchmarkApply measures the merge of a snapshot of 50,000 items with 200,000 changes,
// reading the Parquet files from a directory and emitting to nowhere: rows/s is rows read.
func BenchmarkApply(b *testing.B) {
	bld := benchBackup(b, 50_000, 200_000)
	ctx := context.Background()
	l, err := catalog.List(ctx, bld.Bucket, bld.Checkpoints(), table)
	if err != nil {
		b.Fatal(err)
	}
	p, err := catalog.NewPlan(l, t0.Add(23*time.Hour))
	if err != nil {
		b.Fatal(err)
	}
	r := replay.NewBucketReader(bld.Bucket, table, b.TempDir())
	tmp := b.TempDir()
	b.ResetTimer()
	var rows int64
	for range b.N {
		st, err := replay.Apply(ctx, p, r, replay.Options{TempDir: tmp}, func(replay.Entry) error { return nil })
		if err != nil {
			b.Fatal(err)
		}
		rows += st.SnapshotItems + st.Changes
	}
	b.ReportMetric(float64(rows)/b.Elapsed().Seconds(), "rows/s")
}
