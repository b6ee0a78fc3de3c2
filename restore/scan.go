package restore

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/cenkalti/backoff/v4"
	"golang.org/x/sync/errgroup"

	"github.com/ddbtape/ddbtape/ddbjson"
	"github.com/ddbtape/ddbtape/replay"
	"github.com/ddbtape/ddbtape/transient"
)

// ScanAPI is the DynamoDB call that reads the live table.
type ScanAPI interface {
	Scan(ctx context.Context, in *dynamodb.ScanInput, optFns ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error)
}

// LiveTable reads a table with a parallel, strongly consistent Scan of segments segments
// (zero: 4): what restore into an existing table and verify compare against. keyNames are
// the table's key attributes. Throttled pages are retried with backoff for up to two
// minutes.
func LiveTable(api ScanAPI, table string, keyNames []string, segments int) replay.LiveSource {
	if segments <= 0 {
		segments = 4
	}
	return func(ctx context.Context, fn func(keys, item string) error) error {
		// fn is called from several goroutines here; Apply's callback is safe for that.
		g, gctx := errgroup.WithContext(ctx)
		for seg := range segments {
			g.Go(func() error { return scanSegment(gctx, api, table, keyNames, seg, segments, fn) })
		}
		return g.Wait()
	}
}

func scanSegment(ctx context.Context, api ScanAPI, table string, keyNames []string, seg, total int, fn func(keys, item string) error) error {
	in := &dynamodb.ScanInput{
		TableName:      aws.String(table),
		ConsistentRead: aws.Bool(true),
		Segment:        aws.Int32(int32(seg)),
		TotalSegments:  aws.Int32(int32(total)),
	}
	key := make(map[string]types.AttributeValue, len(keyNames))
	for {
		var out *dynamodb.ScanOutput
		bo := backoff.WithContext(backoff.NewExponentialBackOff(backoff.WithMaxElapsedTime(2*time.Minute), backoff.WithMaxInterval(5*time.Second)), ctx)
		err := backoff.Retry(func() error {
			var err error
			out, err = api.Scan(ctx, in)
			if err != nil && (ctx.Err() != nil || !transient.Retryable(err)) {
				return backoff.Permanent(err)
			}
			return err
		}, bo)
		if err != nil {
			return fmt.Errorf("scan %s segment %d: %w", table, seg, err)
		}
		for _, it := range out.Items {
			for _, n := range keyNames {
				v, ok := it[n]
				if !ok {
					return fmt.Errorf("scan %s: an item lacks key attribute %s", table, n)
				}
				key[n] = v
			}
			k, err := ddbjson.FromDynamoDB(key)
			if err != nil {
				return fmt.Errorf("scan %s: key: %w", table, err)
			}
			item, err := ddbjson.FromDynamoDB(it)
			if err != nil {
				return fmt.Errorf("scan %s: item %s: %w", table, k, err)
			}
			if err := fn(k, item); err != nil {
				return err
			}
		}
		if len(out.LastEvaluatedKey) == 0 {
			return nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}
