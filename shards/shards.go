// Package shards reads a DynamoDB stream: it finds a table's stream, lists its shards,
// orders them by lineage (a parent is read to its end before its children start), and
// runs the per-shard read loop with iterator refresh, retry and idle backoff.
package shards

import (
	"context"
	"errors"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"
	"github.com/ddbtape/ddbtape/ddbjson"
)

// ErrShardTrimmed means records of a shard were trimmed (24-hour retention) before they
// were read: a gap in the backup. Record it, and take a new snapshot to start a new window.
var ErrShardTrimmed = errors.New("shard trimmed before it was fully read")

// StreamsAPI is the part of the DynamoDB Streams client the reader uses.
type StreamsAPI interface {
	DescribeStream(ctx context.Context, in *dynamodbstreams.DescribeStreamInput, optFns ...func(*dynamodbstreams.Options)) (*dynamodbstreams.DescribeStreamOutput, error)
	GetShardIterator(ctx context.Context, in *dynamodbstreams.GetShardIteratorInput, optFns ...func(*dynamodbstreams.Options)) (*dynamodbstreams.GetShardIteratorOutput, error)
	GetRecords(ctx context.Context, in *dynamodbstreams.GetRecordsInput, optFns ...func(*dynamodbstreams.Options)) (*dynamodbstreams.GetRecordsOutput, error)
}

// Shard is one shard of a stream as DescribeStream lists it.
type Shard struct {
	ID       string
	ParentID string // empty for a shard without parent
	// StartingSequence and EndingSequence are the shard's range; EndingSequence is empty
	// while the shard is open (still receiving records).
	StartingSequence string
	EndingSequence   string
}

// Open reports whether the shard can still receive records.
func (s Shard) Open() bool { return s.EndingSequence == "" }

// Batch is what a shard reader hands to its handler after each GetRecords call.
type Batch struct {
	ShardID string
	// Records are in sequence order; empty when the poll found nothing new.
	Records []types.Record
	// Images are the items of Records, one per record, when the reader transcodes
	// (Reader.Transcode); nil otherwise.
	Images []ddbjson.Images
	// PolledAt is when the GetRecords call that returned these records was made, by this
	// host's clock.
	PolledAt time.Time
	// ServerTime is DynamoDB's clock when it answered (the answer's Date header, to the
	// second); zero when the answer carried none. Coverage is judged by it, not by this
	// host's clock: a poll that found the shard caught up proves nothing about writes
	// DynamoDB had not yet made visible by its own time.
	ServerTime time.Time
	// End is true on the last batch of a closed shard: no record will follow.
	End bool
	// Trimmed is set when the reader found records trimmed before it read them (a gap).
	// Such a batch has no records; the batches after it start at the oldest record still
	// readable. With End also set, the shard itself is gone (see Reader.Read).
	Trimmed bool
}

// Handler consumes a batch. It returns only when the batch is dealt with; an error stops
// the reader, which returns it.
type Handler func(ctx context.Context, b Batch) error
