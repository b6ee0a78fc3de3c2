package bench

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	streamtypes "github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"

	"github.com/ddbtape/ddbtape/internal/ddblocal"
	"github.com/ddbtape/ddbtape/storage/dir"
)

var backlog = flag.Int("backlog", 20000, "records in the stream backlog of BenchmarkCaptureBacklog")

// freshTable starts a fresh DynamoDB Local with one stream-enabled table holding n items
// of about 300 bytes, written with BatchWriteItem.
func freshTable(b *testing.B, n int) (*ddblocal.Instance, string) {
	b.Helper()
	ctx := context.Background()
	inst, err := ddblocal.Start(ctx)
	if err != nil {
		b.Fatalf("start DynamoDB Local: %v", err)
	}
	b.Cleanup(inst.Stop)
	db := inst.DynamoDB()
	table := ddblocal.CreateTable(b, db, ddblocal.TableOptions{NamePrefix: "bench"})
	load(b, db, table, n)
	return inst, table
}

func load(b *testing.B, db *dynamodb.Client, table string, n int) {
	b.Helper()
	pad := strings.Repeat("x", 220)
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for start := w * 25; start < n; start += 100 {
				var reqs []types.WriteRequest
				for i := start; i < start+25 && i < n; i++ {
					reqs = append(reqs, types.WriteRequest{PutRequest: &types.PutRequest{Item: map[string]types.AttributeValue{
						"pk":  &types.AttributeValueMemberS{Value: fmt.Sprintf("user#%06d", i)},
						"sk":  &types.AttributeValueMemberS{Value: "profile"},
						"n":   &types.AttributeValueMemberN{Value: fmt.Sprint(i)},
						"pad": &types.AttributeValueMemberS{Value: pad},
					}}})
				}
				for len(reqs) > 0 {
					out, err := db.BatchWriteItem(context.Background(), &dynamodb.BatchWriteItemInput{RequestItems: map[string][]types.WriteRequest{table: reqs}})
					if err != nil {
						errs <- err
						return
					}
					reqs = out.UnprocessedItems[table]
				}
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		b.Fatalf("load: %v", err)
	}
}

// bareDrain reads every record of the stream with a plain GetRecords loop that discards
// them: the fastest a reader can go on this endpoint.
func bareDrain(ctx context.Context, b *testing.B, api *dynamodbstreams.Client, streamARN string, want int) time.Duration {
	b.Helper()
	began := time.Now()
	desc, err := api.DescribeStream(ctx, &dynamodbstreams.DescribeStreamInput{StreamArn: &streamARN})
	if err != nil {
		b.Fatal(err)
	}
	got := 0
	for _, sh := range desc.StreamDescription.Shards {
		it, err := api.GetShardIterator(ctx, &dynamodbstreams.GetShardIteratorInput{StreamArn: &streamARN, ShardId: sh.ShardId, ShardIteratorType: streamtypes.ShardIteratorTypeTrimHorizon})
		if err != nil {
			b.Fatal(err)
		}
		for iter := it.ShardIterator; iter != nil; {
			out, err := api.GetRecords(ctx, &dynamodbstreams.GetRecordsInput{ShardIterator: iter})
			if err != nil {
				b.Fatal(err)
			}
			got += len(out.Records)
			if len(out.Records) == 0 {
				break
			}
			iter = out.NextShardIterator
		}
	}
	if got != want {
		b.Fatalf("bare drain read %d records, want %d", got, want)
	}
	return time.Since(began)
}

// captureDrain runs the capture pipeline until it has stored every record of the backlog
// in a fresh directory.
func captureDrain(ctx context.Context, b *testing.B, inst *ddblocal.Instance, table string, want int) time.Duration {
	b.Helper()
	bucket, err := dir.New(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	took, _ := drainTo(ctx, b, inst, table, want, bucket)
	return took
}

// BenchmarkCaptureBacklog compares the capture of a pre-filled stream backlog (read,
// encode, store, checkpoint) with a bare GetRecords loop over the same stream on the same
// instance. The figure is the ratio (target: 1.2 or less).
func BenchmarkCaptureBacklog(b *testing.B) {
	ctx := context.Background()
	inst, table := freshTable(b, *backlog)
	streamARN := ddblocal.StreamARN(b, inst.DynamoDB(), table)
	b.ResetTimer()
	var bare, capture time.Duration
	for i := 0; i < b.N; i++ {
		bare += bareDrain(ctx, b, inst.Streams(), streamARN, *backlog)
		capture += captureDrain(ctx, b, inst, table, *backlog)
	}
	b.StopTimer()
	n := float64(b.N * *backlog)
	b.ReportMetric(n/bare.Seconds(), "bare-records/s")
	b.ReportMetric(n/capture.Seconds(), "capture-records/s")
	b.ReportMetric(capture.Seconds()/bare.Seconds(), "ratio")
}

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(m.Run())
}
