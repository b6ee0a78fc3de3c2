package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/ddbtape/ddbtape/checkpoint"
	"github.com/ddbtape/ddbtape/ddbjson"
	"github.com/ddbtape/ddbtape/internal/backuptest"
	"github.com/ddbtape/ddbtape/storage/dir"
	"github.com/ddbtape/ddbtape/writer"
)

// runGen writes a synthetic backup for scripts/bench-restore.sh and internal/bench.
func runGen(ctx context.Context, fs *flag.FlagSet, table *string, args []string) error {
	dirFlag := fs.String("dir", "", "backup directory (required)")
	items := fs.Int("items", 200_000, "items in the snapshot")
	changes := fs.Int("changes", 1_000_000, "changes after the snapshot")
	shards := fs.Int("shards", 4, "shards the changes are spread over")
	size := fs.Int("size", 300, "approximate item size in bytes")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dirFlag == "" {
		return errors.New("-dir is required")
	}
	began := time.Now()
	if err := gen(ctx, *dirFlag, *table, *items, *changes, *shards, *size); err != nil {
		return err
	}
	fmt.Printf("wrote a backup of %s: %d snapshot items, %d changes over %d shards, in %s\n", *table, *items, *changes, *shards, since(began))
	return nil
}

// runLoad is the baseline of restore --to-table (see load).
func runLoad(ctx context.Context, fs *flag.FlagSet, table *string, args []string) error {
	endpoint := fs.String("endpoint", "", "DynamoDB endpoint (required)")
	file := fs.String("file", "", "a restore --to-file output (required)")
	workers := fs.Int("workers", 8, "BatchWriteItem calls in flight")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *endpoint == "" || *file == "" {
		return errors.New("-endpoint and -file are required")
	}
	began := time.Now()
	n, err := load(ctx, client(*endpoint), *table, *file, *workers)
	if err != nil {
		return err
	}
	fmt.Printf("loaded %d items into %s in %s\n", n, *table, since(began))
	return nil
}

const streamARN = "arn:aws:dynamodb:us-east-1:123456789012:table/bench/stream/2026-01-01T00:00:00.000"

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func key(i int) string { return fmt.Sprintf(`{"pk":{"S":"k%08d"}}`, i) }

// itemJSON pads with pseudo-random letters: they compress about as well as real
// attribute values do, so the stored backup is not unrealistically small.
func itemJSON(i, version, size int) string {
	const letters = "abcdefghijklmnopqrstuvwxyz0123456789"
	pad := make([]byte, max(size-60, 0))
	x := uint64(i)*0x9e3779b97f4a7c15 ^ uint64(version)*0xbf58476d1ce4e5b9 | 1
	for j := range pad {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		pad[j] = letters[x%uint64(len(letters))]
	}
	return fmt.Sprintf(`{"n":{"N":"%d"},"pad":{"S":"%s"},"pk":{"S":"k%08d"}}`, version, pad, i)
}

// gen writes a snapshot of items keys (k0..), then changes spread over shards: three in
// four set an item of a key space half again as large as the snapshot (inserts and
// updates), one in ten removes one; stamps advance a millisecond per change.
func gen(ctx context.Context, root, table string, items, changes, shards, size int) error {
	bucket, err := dir.New(root)
	if err != nil {
		return err
	}
	b := &backuptest.Builder{Bucket: bucket, Table: table}
	if _, err := b.Snapshot(ctx, "base", t0, t0.Add(time.Minute), items, 500_000, func(i int) writer.SnapshotItem {
		return writer.SnapshotItem{Keys: key(i), Item: itemJSON(i, 0, size)}
	}); err != nil {
		return err
	}
	rng := rand.New(rand.NewPCG(1, 2))
	keySpace := items + items/2 + 1
	perShard := make([][]writer.Change, shards)
	seq := make([]int64, shards)
	var positions []checkpoint.Position
	stamp := t0.Add(2 * time.Minute)
	flush := func(s int) error {
		if len(perShard[s]) == 0 {
			return nil
		}
		_, err := b.Segment(ctx, perShard[s])
		perShard[s] = perShard[s][:0]
		return err
	}
	for c := range changes {
		k := rng.IntN(keySpace)
		s := k % shards
		seq[s]++
		stamp = stamp.Add(time.Millisecond)
		ch := writer.Change{
			TableName: table, StreamARN: streamARN, ShardID: fmt.Sprintf("shardId-%05d", s),
			SequenceNumber: fmt.Sprintf("%d%020d", s+1, seq[s]), EventID: fmt.Sprint(c),
			ApproximateCreationTime: stamp.Truncate(time.Second), CapturedAt: stamp, Keys: key(k), SizeBytes: int64(size),
		}
		if rng.IntN(10) == 0 {
			ch.EventName = "REMOVE"
		} else {
			ch.EventName = "MODIFY"
			img := itemJSON(k, c+1, size)
			ch.NewImage = &img
		}
		perShard[s] = append(perShard[s], ch)
		if len(perShard[s]) == 10_000 {
			if err := flush(s); err != nil {
				return err
			}
		}
	}
	for s := range shards {
		if err := flush(s); err != nil {
			return err
		}
		positions = append(positions, checkpoint.Position{
			StreamARN: streamARN, ShardID: fmt.Sprintf("shardId-%05d", s), CoveredFrom: t0.Add(-time.Hour),
			SequenceNumber: fmt.Sprintf("%d%020d", s+1, seq[s]), LastRecordTime: stamp.Truncate(time.Second), CoveredUntil: stamp.Add(time.Minute),
		})
	}
	return b.Checkpoint(ctx, positions)
}

// load creates table (pk S, on demand, no stream) and writes every item of a restore
// output with parallel BatchWriteItem, resending unprocessed items: the least a loader
// can do, the baseline of restore --to-table.
func load(ctx context.Context, db *dynamodb.Client, table, file string, workers int) (int, error) {
	_, err := db.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:            aws.String(table),
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash}},
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: types.ScalarAttributeTypeS}},
		BillingMode:          types.BillingModePayPerRequest,
	})
	if err != nil {
		return 0, err
	}
	if err := dynamodb.NewTableExistsWaiter(db).Wait(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)}, time.Minute); err != nil {
		return 0, err
	}
	f, err := os.Open(file)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	batches := make(chan []types.WriteRequest, workers)
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for reqs := range batches {
				for len(reqs) > 0 {
					out, err := db.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: map[string][]types.WriteRequest{table: reqs}})
					if err != nil {
						errs <- err
						for range batches { // keep the reader from blocking
						}
						return
					}
					reqs = out.UnprocessedItems[table]
				}
			}
		}()
	}
	n := 0
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<22)
	cur := make([]types.WriteRequest, 0, 25)
	var readErr error
	for sc.Scan() {
		line := strings.TrimSuffix(strings.TrimPrefix(sc.Text(), `{"Item":`), "}")
		it, err := ddbjson.ToDynamoDB(line)
		if err != nil {
			readErr = err
			break
		}
		cur = append(cur, types.WriteRequest{PutRequest: &types.PutRequest{Item: it}})
		n++
		if len(cur) == 25 {
			batches <- cur
			cur = make([]types.WriteRequest, 0, 25)
		}
	}
	if len(cur) > 0 && readErr == nil {
		batches <- cur
	}
	close(batches)
	wg.Wait()
	close(errs)
	if readErr != nil {
		return n, readErr
	}
	if err := sc.Err(); err != nil {
		return n, err
	}
	for err := range errs {
		return n, err
	}
	return n, nil
}
