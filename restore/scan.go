package restore

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"golang.org/x/sync/errgroup"

	"github.com/ddbtape/ddbtape/ddbjson"
	"github.com/ddbtape/ddbtape/replay"
	"github.com/ddbtape/ddbtape/retry"
)

// ScanAPI is the DynamoDB call that reads the live table.
type ScanAPI interface {
	Scan(ctx context.Context, in *dynamodb.ScanInput, optFns ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error)
}

// ScanOptions choose what LiveScan reads and how fast.
type ScanOptions struct {
	// Workers is how many segments are read at once (zero: 4).
	Workers int
	// TotalSegments and Segments select part of the table: the Scan is split into
	// TotalSegments segments and only Segments are read. Zero and nil: the whole table,
	// in Workers segments.
	TotalSegments int
	Segments      []int
	// MaxRCU caps the read capacity units consumed per second by all workers, as
	// DynamoDB reports them (zero: no cap).
	MaxRCU float64
}

// LiveScan reads the segments o names of a table with a parallel, strongly consistent
// Scan, at most o.MaxRCU read capacity units per second, and feeds every item to fn: what
// a restore into the existing table and a verification compare against. keyNames are the
// table's key attributes. Throttled pages are retried with backoff for up to two minutes.
func LiveScan(api ScanAPI, table string, keyNames []string, o ScanOptions) replay.LiveSource {
	if o.Workers <= 0 {
		o.Workers = 4
	}
	total, segs := o.TotalSegments, o.Segments
	if total <= 0 || segs == nil {
		total, segs = o.Workers, nil
		for i := range o.Workers {
			segs = append(segs, i)
		}
	}
	// A page's cost is known once it is read: each waits until the pages before it are
	// paid for, then spends its own; idle time banks no burst.
	lim := retry.NewLimiter(o.MaxRCU, 0)
	return func(ctx context.Context, fn func(keys, item string) error) error {
		// fn is called from several goroutines here; Apply's callback is safe for that.
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(o.Workers)
		for _, seg := range segs {
			g.Go(func() error { return scanSegment(gctx, api, table, keyNames, seg, total, lim, fn) })
		}
		return g.Wait()
	}
}

// scanSegment reads one segment, each page under lim (nil: no cap) and retried for up to
// two minutes.
func scanSegment(ctx context.Context, api ScanAPI, table string, keyNames []string, seg, total int, lim *retry.Limiter, fn func(keys, item string) error) error {
	in := &dynamodb.ScanInput{
		TableName:      aws.String(table),
		ConsistentRead: aws.Bool(true),
		Segment:        aws.Int32(int32(seg)),
		TotalSegments:  aws.Int32(int32(total)),
	}
	if lim != nil {
		in.ReturnConsumedCapacity = types.ReturnConsumedCapacityTotal
	}
	key := make(map[string]types.AttributeValue, len(keyNames))
	for {
		if err := lim.Wait(ctx); err != nil {
			return err
		}
		var out *dynamodb.ScanOutput
		err := retry.Do(ctx, scanRetry, func(ctx context.Context) error {
			var err error
			out, err = api.Scan(ctx, in)
			return err
		})
		if err != nil {
			return fmt.Errorf("scan %s segment %d: %w", table, seg, err)
		}
		lim.Spend(readUnits(out))
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

// scanRetry is how a page of the live table is retried.
var scanRetry = retry.Policy{What: "scan page", Initial: 500 * time.Millisecond, Max: 5 * time.Second, Bound: 2 * time.Minute}

// readUnits is what a page cost: what DynamoDB reported, or else an estimate of a
// strongly consistent read (a unit per 4 KB of items, at least one).
func readUnits(out *dynamodb.ScanOutput) float64 {
	if c := out.ConsumedCapacity; c != nil && c.CapacityUnits != nil {
		return *c.CapacityUnits
	}
	var size int
	for _, it := range out.Items {
		for name, v := range it {
			size += len(name) + approxSize(v)
		}
	}
	return max(1, float64((size+4095)/4096))
}

// approxSize is about what DynamoDB counts for a value.
func approxSize(v types.AttributeValue) int {
	switch x := v.(type) {
	case *types.AttributeValueMemberS:
		return len(x.Value)
	case *types.AttributeValueMemberB:
		return len(x.Value)
	case *types.AttributeValueMemberM:
		n := 3
		for k, e := range x.Value {
			n += len(k) + approxSize(e)
		}
		return n
	case *types.AttributeValueMemberL:
		n := 3
		for _, e := range x.Value {
			n += approxSize(e)
		}
		return n
	}
	return 21 // numbers, sets and the rest: a generous constant
}
