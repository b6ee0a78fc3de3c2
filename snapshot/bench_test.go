package snapshot

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/ddbtape/ddbtape/internal/snapshottest"
	"github.com/ddbtape/ddbtape/storage/dir"
	"github.com/ddbtape/ddbtape/writer"
)

// BenchmarkRow_EncodeAndSpool is the snapshot's own work per scanned item, without
// DynamoDB: DynamoDB JSON of item and key, then the Parquet part (spooled to disk). Its
// items/s bound how close a snapshot can get to a bare Scan (scripts/bench-snapshot.sh).
func BenchmarkRow_EncodeAndSpool(b *testing.B) {
	for _, bc := range []struct {
		name  string
		items []map[string]types.AttributeValue
	}{
		{"uniform-1KB", snapshottest.UniformItems(4096, 1000)},
		{"mixed-types", snapshottest.MixedItems(1, 3999)}, // every type, no 400 KB item
	} {
		b.Run(bc.name, func(b *testing.B) {
			j := &Job{keyNames: []string{"pk", "sk"}}
			part := writer.NewPart(b.TempDir())
			defer func() { part.Discard() }()
			var bytes int64
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				it, err := j.row(bc.items[i%len(bc.items)])
				if err != nil {
					b.Fatal(err)
				}
				if err := part.Append(it); err != nil {
					b.Fatal(err)
				}
				bytes += int64(len(it.Item))
				if part.Len() == 100_000 { // keep spool files bounded on long runs
					part.Discard()
					part = writer.NewPart(b.TempDir())
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "items/s")
			b.SetBytes(bytes / int64(max(b.N, 1)))
		})
	}
}

// BenchmarkRun_InMemoryTable is a whole snapshot (parallel segments, parts, state,
// manifest, into a directory) of a table served from memory: the pipeline's throughput
// when DynamoDB is not the bottleneck.
func BenchmarkRun_InMemoryTable(b *testing.B) {
	tbl := newMemTable(20_000)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		bucket, err := newBenchBucket(b)
		if err != nil {
			b.Fatal(err)
		}
		j, err := Prepare(b.Context(), tbl.db(), bucket, Config{Table: tbl.name, Segments: 4, Workers: 4, PageSize: 1000})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := j.Run(b.Context(), nil); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*len(tbl.items))/b.Elapsed().Seconds(), "items/s")
}

func newBenchBucket(b *testing.B) (*dir.Bucket, error) { return dir.New(b.TempDir()) }
