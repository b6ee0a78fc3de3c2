package main

import (
	"context"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"

	ckdynamo "github.com/ddbtape/ddbtape/checkpoint/dynamodb"
	"github.com/ddbtape/ddbtape/internal/ddblocal"
	"github.com/ddbtape/ddbtape/internal/fakestreams"
)

// benchFleet is a fake stream of many empty shards and a fresh lease table.
type benchFleet struct {
	fake   *fakestreams.Server
	stream string
	shards []string
	store  *ckdynamo.Store
	args   []string
}

func newBenchFleet(b *testing.B, nShards int, leaseDuration string) *benchFleet {
	b.Helper()
	local := ddblocal.Shared(b)
	f := &benchFleet{fake: fakestreams.Start()}
	b.Cleanup(f.fake.Close)
	const table = "bench-orders"
	var err error
	if f.stream, err = f.fake.CreateTable(fakestreams.TableSpec{Name: table, StreamViewType: "NEW_AND_OLD_IMAGES"}); err != nil {
		b.Fatal(err)
	}
	for i := range nShards {
		id := fakestreams.ShardID(i)
		if err := f.fake.AddShard(f.stream, id, ""); err != nil {
			b.Fatal(err)
		}
		f.shards = append(f.shards, id)
	}
	ckpt := fmt.Sprintf("bench-ckpt-%d", time.Now().UnixNano())
	if f.store, err = ckdynamo.New(local.DynamoDB(), ckpt, ""); err != nil {
		b.Fatal(err)
	}
	if err := f.store.EnsureTable(b.Context(), true, time.Minute); err != nil {
		b.Fatal(err)
	}
	f.args = []string{"capture", "--table", table, "--dest", b.TempDir(), "--endpoint-url", f.fake.URL(),
		"--checkpoint", "dynamodb://" + ckpt, "--checkpoint-endpoint-url", local.Endpoint,
		"--lease-duration", leaseDuration, "--poll-interval", "100ms", "--roll-records", "2000", "--roll-age", "300ms", "--log-level", "warn"}
	return f
}

// balanced waits until every worker holds its share of the shards, within one.
func (f *benchFleet) balanced(b *testing.B, ids []string) {
	b.Helper()
	fleetWaitFor(b, 2*time.Minute, "balanced leases", func() (bool, string) {
		o := fleetLeaseOwners(b, f.store, "bench-orders")
		for _, id := range ids {
			if o[id] < len(f.shards)/len(ids) {
				return false, fmt.Sprint(o)
			}
		}
		return true, ""
	})
}

// BenchmarkFleet_Takeover measures the time from a worker's kill -9 until the survivor
// holds every shard (2 workers, 16 shards), for two lease durations.
func BenchmarkFleet_Takeover(b *testing.B) {
	for _, d := range []string{"3s", "10s"} {
		b.Run("lease="+d, func(b *testing.B) {
			var total time.Duration
			for range b.N {
				f := newBenchFleet(b, 16, d)
				ctx, cancel := context.WithCancel(context.Background())
				w1 := startFleetWorker(ctx, b, "w1", f.args...)
				w2 := startFleetWorker(ctx, b, "w2", f.args...)
				f.balanced(b, []string{"w1", "w2"})
				_ = w2.cmd.Process.Signal(syscall.SIGKILL)
				<-w2.exited
				w2.exited <- nil
				killed := time.Now()
				fleetWaitFor(b, 2*time.Minute, "takeover", func() (bool, string) {
					o := fleetLeaseOwners(b, f.store, "bench-orders")
					return o["w1"] == 16, fmt.Sprint(o)
				})
				total += time.Since(killed)
				w1.stop(b)
				cancel()
			}
			b.ReportMetric(total.Seconds()/float64(b.N), "s/takeover")
		})
	}
}

// BenchmarkFleet_Throughput measures how fast 1, 2 and 3 worker processes drain a backlog
// appended to 32 shards of the fake stream once their leases are balanced.
func BenchmarkFleet_Throughput(b *testing.B) {
	const nShards, perShard = 32, 3000
	pad := strings.Repeat("x", 200)
	for _, workers := range []int{1, 2, 3} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) {
			var total time.Duration
			for range b.N {
				f := newBenchFleet(b, nShards, "10s")
				ctx, cancel := context.WithCancel(context.Background())
				var ids []string
				var ws []*fleetWorker
				for i := range workers {
					id := fmt.Sprintf("w%d", i+1)
					ids = append(ids, id)
					ws = append(ws, startFleetWorker(ctx, b, id, f.args...))
				}
				f.balanced(b, ids)
				last := map[string]string{}
				for _, sh := range f.shards {
					recs := make([]fakestreams.Record, perShard)
					for i := range recs {
						key := fmt.Sprintf("%s-%d", sh, i)
						recs[i] = fakestreams.Record{
							Keys:     map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: key}},
							NewImage: map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: key}, "pad": &types.AttributeValueMemberS{Value: pad}},
						}
					}
					seqs, err := f.fake.AppendRecords(sh, recs...)
					if err != nil {
						b.Fatal(err)
					}
					last[sh] = seqs[len(seqs)-1]
				}
				began := time.Now()
				fleetWaitFor(b, 5*time.Minute, "backlog drained", func() (bool, string) {
					infos, err := f.store.ListLeases(b.Context(), "bench-orders")
					if err != nil {
						return false, err.Error()
					}
					done := 0
					for _, in := range infos {
						if in.SequenceNumber == last[in.ShardID] {
							done++
						}
					}
					return done == nShards, fmt.Sprintf("%d of %d shards drained", done, nShards)
				})
				total += time.Since(began)
				for _, w := range ws {
					w.stop(b)
				}
				cancel()
			}
			b.ReportMetric(float64(nShards*perShard*b.N)/total.Seconds(), "records/s")
		})
	}
}
