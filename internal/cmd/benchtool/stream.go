package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	streamtypes "github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"
	"golang.org/x/sync/errgroup"

	"github.com/ddbtape/ddbtape/internal/ddblocal"
	"github.com/ddbtape/ddbtape/internal/snapshottest"
)

// runStream makes the capture benchmark's backlog: a stream-enabled table (new and old
// images) and records items of about size bytes written into it.
func runStream(ctx context.Context, fs *flag.FlagSet, table *string, args []string) error {
	endpoint := fs.String("endpoint", "", "DynamoDB endpoint (required)")
	records := fs.Int("records", 20_000, "items written, one stream record each")
	size := fs.Int("size", 300, "approximate item size in bytes")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *endpoint == "" {
		return errors.New("-endpoint is required")
	}
	db, began := client(*endpoint), time.Now()
	if _, err := db.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName: aws.String(*table),
		KeySchema: []types.KeySchemaElement{
			{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash},
			{AttributeName: aws.String("sk"), KeyType: types.KeyTypeRange},
		},
		AttributeDefinitions: []types.AttributeDefinition{
			{AttributeName: aws.String("pk"), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: aws.String("sk"), AttributeType: types.ScalarAttributeTypeS},
		},
		BillingMode:         types.BillingModePayPerRequest,
		StreamSpecification: &types.StreamSpecification{StreamEnabled: aws.Bool(true), StreamViewType: types.StreamViewTypeNewAndOldImages},
	}); err != nil {
		return fmt.Errorf("create table %s: %w", *table, err)
	}
	if err := snapshottest.Load(ctx, db, *table, snapshottest.UniformItems(*records, *size)); err != nil {
		return err
	}
	fmt.Printf("wrote %d items of about %d bytes into %s (stream records) in %s\n", *records, *size, *table, since(began))
	return nil
}

// runDrain is the baseline of capture: a bare drain of the table's stream, every shard at
// once, from TRIM_HORIZON to the end of what is there, records discarded.
func runDrain(ctx context.Context, fs *flag.FlagSet, table *string, args []string) error {
	endpoint := fs.String("endpoint", "", "DynamoDB endpoint (required)")
	want := fs.Int64("records", 0, "fail unless this many records are read (0: no check)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *endpoint == "" {
		return errors.New("-endpoint is required")
	}
	began := time.Now()
	inst := &ddblocal.Instance{Endpoint: *endpoint}
	desc, err := inst.DynamoDB().DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: table})
	if err != nil {
		return err
	}
	streams, arn := inst.Streams(), desc.Table.LatestStreamArn
	var shards []streamtypes.Shard
	for in := (&dynamodbstreams.DescribeStreamInput{StreamArn: arn}); ; {
		out, err := streams.DescribeStream(ctx, in)
		if err != nil {
			return err
		}
		shards = append(shards, out.StreamDescription.Shards...)
		if out.StreamDescription.LastEvaluatedShardId == nil {
			break
		}
		in.ExclusiveStartShardId = out.StreamDescription.LastEvaluatedShardId
	}
	var n atomic.Int64
	g, ctx := errgroup.WithContext(ctx)
	for _, sh := range shards {
		g.Go(func() error {
			it, err := streams.GetShardIterator(ctx, &dynamodbstreams.GetShardIteratorInput{StreamArn: arn, ShardId: sh.ShardId, ShardIteratorType: streamtypes.ShardIteratorTypeTrimHorizon})
			if err != nil {
				return err
			}
			for iter := it.ShardIterator; iter != nil; {
				out, err := streams.GetRecords(ctx, &dynamodbstreams.GetRecordsInput{ShardIterator: iter})
				if err != nil {
					return err
				}
				n.Add(int64(len(out.Records)))
				if len(out.Records) == 0 && sh.SequenceNumberRange.EndingSequenceNumber == nil {
					return nil // an open shard read to its present end
				}
				iter = out.NextShardIterator
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	if *want > 0 && n.Load() != *want {
		return fmt.Errorf("drained %d records, want %d", n.Load(), *want)
	}
	secs := time.Since(began).Seconds()
	fmt.Printf("bare drain: %d records from %d shards in %.3fs (%.0f records/s)\n", n.Load(), len(shards), secs, float64(n.Load())/secs)
	return nil
}
