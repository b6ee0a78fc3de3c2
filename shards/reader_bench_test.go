package shards

import (
	"context"
	"fmt"
	"log/slog"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"
	"github.com/ddbtape/ddbtape/internal/fakestreams"
)

// BenchmarkReader_DrainClosedShard reads a closed shard of 10,000 records (about 300
// bytes each) through the SDK client and the fake server: the reader's own overhead on
// top of the SDK's decoding and local HTTP.
func BenchmarkReader_DrainClosedShard(b *testing.B) {
	const n = 10_000
	fake := fakestreams.Start()
	defer fake.Close()
	arn, err := fake.CreateTable(fakestreams.TableSpec{Name: "bench", StreamViewType: ViewNewAndOldImages})
	if err != nil {
		b.Fatal(err)
	}
	if err := fake.AddShard(arn, "s1", ""); err != nil {
		b.Fatal(err)
	}
	pad := fmt.Sprintf("%0200d", 0)
	recs := make([]fakestreams.Record, n)
	for i := range recs {
		pk := &types.AttributeValueMemberS{Value: fmt.Sprintf("user#%08d", i)}
		recs[i] = fakestreams.Record{EventName: "MODIFY",
			Keys:     map[string]types.AttributeValue{"pk": pk},
			NewImage: map[string]types.AttributeValue{"pk": pk, "n": &types.AttributeValueMemberN{Value: "42"}, "pad": &types.AttributeValueMemberS{Value: pad}},
		}
	}
	if _, err := fake.AppendRecords("s1", recs...); err != nil {
		b.Fatal(err)
	}
	fake.CloseShard("s1")
	r := &Reader{API: dynamodbstreams.NewFromConfig(fake.Config()), StreamARN: arn, Logger: slog.New(slog.DiscardHandler)}
	shard := Shard{ID: "s1", EndingSequence: "x"}
	b.ResetTimer()
	for b.Loop() {
		got := 0
		err := r.Read(context.Background(), shard, "", TrimHorizon, func(_ context.Context, bt Batch) error {
			got += len(bt.Records)
			return nil
		})
		if err != nil || got != n {
			b.Fatalf("read %d records, err %v", got, err)
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "records/s")
}
