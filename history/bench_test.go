package history_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ddbtape/ddbtape/catalog"
	"github.com/ddbtape/ddbtape/checkpoint"
	"github.com/ddbtape/ddbtape/history"
	"github.com/ddbtape/ddbtape/internal/backuptest"
	"github.com/ddbtape/ddbtape/replay"
	"github.com/ddbtape/ddbtape/storage/dir"
	"github.com/ddbtape/ddbtape/writer"
)

const (
	benchTable  = "bench"
	benchStream = "arn:aws:dynamodb:us-east-1:123456789012:table/bench/stream/2026-03-01T00:00:00.000"
	benchItems  = 100_000
	// benchChanges over benchHours hours on two shards, in segments of 10,000 records.
	benchChanges = 1_000_000
	benchHours   = 10
)

var benchT0 = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)

var built struct {
	once sync.Once
	bld  *backuptest.Builder
	err  error
}

// millionChanges writes (once per test binary) a backup of 100,000 snapshot items and
// 1,000,000 changes of ~300-byte items spread evenly over ten hours.
func millionChanges(b *testing.B) *backuptest.Builder {
	b.Helper()
	built.once.Do(func() {
		ctx := context.Background()
		root, spool := b.TempDir(), b.TempDir() // kept: TempDir of the first caller lives until it ends
		bucket, err := dir.New(root)
		if err != nil {
			built.err = err
			return
		}
		bld := &backuptest.Builder{Bucket: bucket, Table: benchTable, SpoolDir: spool}
		pad := strings.Repeat("x", 240)
		it := func(k, v int) string {
			return fmt.Sprintf(`{"n":{"N":"%d"},"pad":{"S":"%s"},"pk":{"S":"k%08d"}}`, v, pad, k)
		}
		if _, err := bld.Snapshot(ctx, "s1", benchT0, benchT0.Add(time.Minute), benchItems, 100_000, func(i int) writer.SnapshotItem {
			return writer.SnapshotItem{Keys: fmt.Sprintf(`{"pk":{"S":"k%08d"}}`, i), Item: it(i, 0)}
		}); err != nil {
			built.err = err
			return
		}
		every := time.Duration(benchHours) * time.Hour / (benchChanges / 2)
		var positions []checkpoint.Position
		for s := range 2 {
			shard := fmt.Sprint("shardId-", s)
			var seg []writer.Change
			for c := range benchChanges / 2 {
				k := (c*7919 + s) % benchItems
				img := it(k, c+1)
				seg = append(seg, writer.Change{TableName: benchTable, StreamARN: benchStream, ShardID: shard, SequenceNumber: fmt.Sprint(1_000_000 + c),
					EventID: fmt.Sprintf("e%d-%d", s, c), EventName: "MODIFY", ApproximateCreationTime: benchT0.Add(2*time.Minute + time.Duration(c)*every).Truncate(time.Second),
					Keys: fmt.Sprintf(`{"pk":{"S":"k%08d"}}`, k), NewImage: &img, SizeBytes: 300})
				if len(seg) == 10_000 {
					if _, err := bld.Segment(ctx, seg); err != nil {
						built.err = err
						return
					}
					seg = seg[:0]
				}
			}
			positions = append(positions, checkpoint.Position{StreamARN: benchStream, ShardID: shard, CoveredFrom: benchT0.Add(-time.Hour), CoveredUntil: benchT0.Add(benchHours*time.Hour + time.Hour)})
		}
		built.bld, built.err = bld, bld.Checkpoint(ctx, positions)
	})
	if built.err != nil {
		b.Fatal(built.err)
	}
	return built.bld
}

// BenchmarkHistory_OneKey reads one key's history from a backup of 1,000,000 changes over
// ten hours: over one hour (the catalog selects that hour's segments) and over all ten.
// rows/s counts the rows read, snapshot parts included.
func BenchmarkHistory_OneKey(b *testing.B) {
	bld := millionChanges(b)
	ctx := context.Background()
	l, err := catalog.List(ctx, bld.Bucket, bld.Checkpoints(), benchTable)
	if err != nil {
		b.Fatal(err)
	}
	key, err := history.Key(`{"pk":{"S":"k00004242"}}`, []string{"pk"})
	if err != nil {
		b.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		from, to time.Time
	}{
		{"one-hour", benchT0.Add(5 * time.Hour), benchT0.Add(6 * time.Hour)},
		{"ten-hours", benchT0.Add(2 * time.Minute), benchT0.Add(benchHours * time.Hour)},
	} {
		b.Run(tc.name, func(b *testing.B) {
			p, err := catalog.NewPlan(l, tc.from)
			if err != nil {
				b.Fatal(err)
			}
			r := replay.NewBucketReader(bld.Bucket, benchTable, b.TempDir())
			var rows counter
			var versions int
			b.ResetTimer()
			for range b.N {
				hs, err := history.Read(ctx, p, l, r, history.Options{Keep: func(k string) bool { return k == key }, To: tc.to, Progress: &rows})
				if err != nil {
					b.Fatal(err)
				}
				versions = len(hs[key])
			}
			b.ReportMetric(float64(rows.n.Load())/float64(b.N), "rows/op")
			b.ReportMetric(float64(rows.n.Load())/b.Elapsed().Seconds(), "rows/s")
			b.ReportMetric(float64(versions), "versions")
			b.ReportMetric(float64(len(l.SegmentsBetween(p.ReplayFrom, tc.to))), "segments")
		})
	}
}

type counter struct{ n atomic.Int64 }

func (c *counter) Add(items, _ int64) { c.n.Add(items) }
