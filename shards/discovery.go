package shards

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	"github.com/aws/smithy-go"

	"github.com/ddbtape/ddbtape/globaltable"
	"github.com/ddbtape/ddbtape/retry"
)

// ErrTableNotFound means DescribeTable found no such table.
var ErrTableNotFound = errors.New("table not found: check the table name and the region (--region, AWS_REGION) or endpoint")

// ErrStreamGone means DescribeStream no longer knows the stream: it was disabled more than
// 24 hours ago (or the table was deleted), so its records are gone.
var ErrStreamGone = errors.New("stream no longer exists")

// ErrNoStream means the table has no enabled stream to capture.
var ErrNoStream = errors.New("table has no stream enabled: enable one with view type NEW_AND_OLD_IMAGES or NEW_IMAGE")

// ErrViewType means the stream's records do not carry the new item image, so they cannot
// rebuild items on restore.
var ErrViewType = errors.New("stream view type cannot rebuild items: KEYS_ONLY and OLD_IMAGE records lack the new image; switch the stream to NEW_AND_OLD_IMAGES or NEW_IMAGE (disable it, then enable it with the new view type)")

// TableAPI is the part of the DynamoDB client that stream discovery uses.
type TableAPI interface {
	DescribeTable(ctx context.Context, in *dynamodb.DescribeTableInput, optFns ...func(*dynamodb.Options)) (*dynamodb.DescribeTableOutput, error)
}

// Stream identifies a table's current stream.
type Stream struct {
	TableARN  string
	StreamARN string
	ViewType  string // NEW_AND_OLD_IMAGES or NEW_IMAGE (others are refused)
	// Table says whether the table is a global table, and its region.
	Table globaltable.Info
}

// View types that carry the new image of an item.
const (
	ViewNewAndOldImages = "NEW_AND_OLD_IMAGES"
	ViewNewImage        = "NEW_IMAGE"
)

// CheckViewType returns nil when records of view type v can rebuild items, else an error
// wrapping ErrViewType that names v.
func CheckViewType(v string) error {
	switch v {
	case ViewNewAndOldImages, ViewNewImage:
		return nil
	}
	if v == "" {
		v = "unknown"
	}
	return fmt.Errorf("view type %s: %w", v, ErrViewType)
}

// StreamOf returns the enabled stream of table. It returns an error wrapping
// ErrTableNotFound when the table does not exist, ErrNoStream when no stream is enabled
// (a disabled stream's ARN stays on the table for 24 hours, but it receives nothing
// new), and ErrViewType when the view type cannot rebuild items.
//
// Transient failures (throttling, 5xx, resets, truncated answers) are retried as by a
// Reader with default settings: one bad answer at start-up must not stop a capture.
func StreamOf(ctx context.Context, api TableAPI, table string) (Stream, error) {
	return (&Reader{}).StreamOf(ctx, api, table)
}

// StreamOf is the package's StreamOf with r's retry bound, clock and logger. It is a
// capture's first call to DynamoDB: while no attempt has reached the endpoint (a wrong
// --endpoint-url, DynamoDB Local not started) it gives up after
// retry.DefaultFirstContact, with an error wrapping retry.ErrUnreachable that names the
// endpoint.
func (r *Reader) StreamOf(ctx context.Context, api TableAPI, table string) (Stream, error) {
	var out *dynamodb.DescribeTableOutput
	c := r.config()
	rt := c.retrier(c.Logger)
	rt.firstContact = min(retry.DefaultFirstContact, c.RetryBound)
	err := rt.do(ctx, "DescribeTable", "describe table "+table, func(ctx context.Context) (err error) {
		// One SDK attempt per call: this loop retries, and the SDK's own backoff (up to
		// 20 s between its attempts) would hide a wrong endpoint behind it.
		out, err = api.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)},
			func(o *dynamodb.Options) { o.RetryMaxAttempts = 1 })
		return err
	})
	if err != nil {
		var apiErr smithy.APIError
		if errors.As(err, &apiErr) && apiErr.ErrorCode() == codeResourceNotFound {
			return Stream{}, fmt.Errorf("describe table %s: %w", table, ErrTableNotFound)
		}
		if errors.Is(err, retry.ErrUnreachable) {
			return Stream{}, err // it names the call already
		}
		return Stream{}, fmt.Errorf("describe table %s: %w", table, err)
	}
	t := out.Table
	if t == nil {
		return Stream{}, fmt.Errorf("describe table %s: %w", table, ErrTableNotFound)
	}
	spec := t.StreamSpecification
	if spec == nil || !aws.ToBool(spec.StreamEnabled) || aws.ToString(t.LatestStreamArn) == "" {
		return Stream{}, fmt.Errorf("table %s: %w (aws dynamodb update-table --table-name %s --stream-specification StreamEnabled=true,StreamViewType=NEW_AND_OLD_IMAGES)",
			table, ErrNoStream, table)
	}
	s := Stream{
		TableARN:  aws.ToString(t.TableArn),
		StreamARN: aws.ToString(t.LatestStreamArn),
		ViewType:  string(spec.StreamViewType),
		Table:     globaltable.Describe(t),
	}
	if err := CheckViewType(s.ViewType); err != nil {
		return s, fmt.Errorf("table %s stream %s: %w", table, s.StreamARN, err)
	}
	return s, nil
}

// ListShards returns every shard of the stream, paging DescribeStream, with transient
// errors retried as by a Reader with default settings. See Reader.ListShards.
func ListShards(ctx context.Context, api StreamsAPI, streamARN string) ([]Shard, error) {
	r := &Reader{API: api, StreamARN: streamARN}
	return r.ListShards(ctx)
}

// Listing is one complete listing of a stream's shards.
type Listing struct {
	Shards []Shard
	// Created is when the stream was created (CreationRequestDateTime); zero if unknown.
	Created time.Time
	// Status is the stream's status (ENABLED, ENABLING, DISABLED, DISABLING).
	Status string
	// ServerTime is DynamoDB's clock at the first page (zero when the answer carried no
	// Date): every shard that existed a listing delay before it is in Shards.
	ServerTime time.Time
}

// ListShards returns every shard of r.StreamARN in the order DescribeStream lists them,
// following LastEvaluatedShardId until it is absent. Throttling, 5xx and connection
// errors are retried within r.RetryBound.
func (r *Reader) ListShards(ctx context.Context) ([]Shard, error) {
	l, err := r.Describe(ctx)
	return l.Shards, err
}

// Describe lists the stream's shards as ListShards does, with when the stream was
// created and when the listing was made by DynamoDB's clock. A stream that no longer
// exists is an error wrapping ErrStreamGone.
func (r *Reader) Describe(ctx context.Context) (Listing, error) {
	c := r.config()
	rt := c.retrier(c.Logger.With("stream_arn", c.StreamARN))
	var (
		l     Listing
		seen  = map[string]bool{}
		start *string
	)
	for page := 0; ; page++ {
		var out *dynamodbstreams.DescribeStreamOutput
		err := rt.do(ctx, "DescribeStream", "describe stream "+c.StreamARN, func(ctx context.Context) error {
			var err error
			out, err = c.API.DescribeStream(ctx, &dynamodbstreams.DescribeStreamInput{
				StreamArn:             aws.String(c.StreamARN),
				ExclusiveStartShardId: start,
			})
			return err
		})
		if err != nil {
			if apiCode(err) == codeResourceNotFound {
				return Listing{}, fmt.Errorf("describe stream %s: %w: %w", c.StreamARN, ErrStreamGone, err)
			}
			return Listing{}, fmt.Errorf("describe stream %s: %w", c.StreamARN, err)
		}
		d := out.StreamDescription
		if d == nil {
			return Listing{}, fmt.Errorf("describe stream %s: response has no stream description", c.StreamARN)
		}
		if page == 0 {
			if t, ok := awsmiddleware.GetServerTime(out.ResultMetadata); ok {
				l.ServerTime = t.UTC()
			}
			l.Created = aws.ToTime(d.CreationRequestDateTime).UTC()
			l.Status = string(d.StreamStatus)
		}
		for _, s := range d.Shards {
			sh := Shard{
				ID:       aws.ToString(s.ShardId),
				ParentID: aws.ToString(s.ParentShardId),
			}
			if rg := s.SequenceNumberRange; rg != nil {
				sh.StartingSequence = aws.ToString(rg.StartingSequenceNumber)
				sh.EndingSequence = aws.ToString(rg.EndingSequenceNumber)
			}
			if sh.ID == "" || seen[sh.ID] {
				continue
			}
			seen[sh.ID] = true
			l.Shards = append(l.Shards, sh)
		}
		next := aws.ToString(d.LastEvaluatedShardId)
		if next == "" {
			return l, nil
		}
		// A cursor that does not move would page forever.
		if start != nil && *start == next {
			return Listing{}, fmt.Errorf("describe stream %s: paging stuck at shard %s", c.StreamARN, next)
		}
		start = aws.String(next)
	}
}
