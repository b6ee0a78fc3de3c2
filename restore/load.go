package restore

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"golang.org/x/sync/errgroup"

	"github.com/ddbtape/ddbtape/ddbjson"
	"github.com/ddbtape/ddbtape/replay"
	"github.com/ddbtape/ddbtape/retry"
)

// BatchWriteAPI is the DynamoDB call the loader uses.
type BatchWriteAPI interface {
	BatchWriteItem(ctx context.Context, in *dynamodb.BatchWriteItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error)
}

// Write is one put (Item set) or delete (Key set), DynamoDB JSON.
type Write struct {
	Item string
	Key  string
}

// LoadOptions tune Load.
type LoadOptions struct {
	// Workers is the number of BatchWriteItem calls in flight; zero: 8.
	Workers int
	// MaxWCU caps the write rate in write capacity units per second (one per started KB of
	// an item, estimated from its JSON); zero: no cap.
	MaxWCU float64
	// RetryBound is how long one batch is retried without any progress before Load gives
	// up with an error wrapping retry.ErrGaveUp; zero: two minutes.
	RetryBound time.Duration
	// Progress counts items written; nil: none.
	Progress replay.Counter

	// sleep waits between retries; tests replace it so they never sleep.
	sleep func(ctx context.Context, d time.Duration) error
}

// LoadStats counts what reached the table.
type LoadStats struct {
	Puts    int64 `json:"puts"`
	Deletes int64 `json:"deletes"`
	// Unwritten is what was handed to Load but not confirmed written when it stopped.
	Unwritten int64 `json:"unwritten"`
}

// batchLimit is BatchWriteItem's maximum number of requests.
const batchLimit = 25

type loader struct {
	api     BatchWriteAPI
	table   string
	opts    LoadOptions
	limit   *retry.Limiter
	sent    atomic.Int64
	puts    atomic.Int64
	deletes atomic.Int64
}

// Load writes what produce sends to table with parallel BatchWriteItem calls, retrying
// unprocessed items and throttled or failed calls with exponential backoff. produce runs
// in its own goroutine; send blocks while the writers are busy. When a batch cannot be
// written Load stops and returns an error that counts what was written; the stats are
// valid either way. Items sent must have distinct keys within a batch; a restore's items
// always have distinct keys.
func Load(ctx context.Context, api BatchWriteAPI, table string, opts LoadOptions, produce func(ctx context.Context, send func(Write) error) error) (LoadStats, error) {
	if opts.Workers <= 0 {
		opts.Workers = 8
	}
	if opts.RetryBound <= 0 {
		opts.RetryBound = 2 * time.Minute
	}
	if opts.sleep == nil {
		opts.sleep = retry.Sleep
	}
	// Writes are booked before they are sent (their cost is known) and spaced out at the
	// rate; idle time banks no burst.
	l := &loader{api: api, table: table, opts: opts, limit: retry.NewLimiter(opts.MaxWCU, 0)}
	if l.limit != nil {
		l.limit.Sleep = opts.sleep
	}
	batches := make(chan []Write, opts.Workers)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		defer close(batches)
		cur := make([]Write, 0, batchLimit)
		flush := func() error {
			select {
			case batches <- cur:
				cur = make([]Write, 0, batchLimit)
				return nil
			case <-gctx.Done():
				return gctx.Err()
			}
		}
		err := produce(gctx, func(w Write) error {
			l.sent.Add(1)
			cur = append(cur, w)
			if len(cur) == batchLimit {
				return flush()
			}
			return nil
		})
		if err != nil {
			return err
		}
		if len(cur) > 0 {
			return flush()
		}
		return nil
	})
	for range opts.Workers {
		g.Go(func() error {
			for b := range batches {
				if err := l.write(gctx, b); err != nil {
					return err
				}
			}
			return nil
		})
	}
	err := g.Wait()
	st := LoadStats{Puts: l.puts.Load(), Deletes: l.deletes.Load()}
	st.Unwritten = l.sent.Load() - st.Puts - st.Deletes
	if err != nil && errors.Is(err, retry.ErrGaveUp) {
		err = fmt.Errorf("write to table %s: %w: %d items written, %d not written", table, err, st.Puts+st.Deletes, st.Unwritten)
	}
	return st, err
}

// write stores one batch, retrying what DynamoDB leaves unprocessed.
func (l *loader) write(ctx context.Context, b []Write) error {
	reqs := make([]types.WriteRequest, 0, len(b))
	var cost float64
	for _, w := range b {
		if w.Item != "" {
			item, err := ddbjson.ToDynamoDB(w.Item)
			if err != nil {
				return fmt.Errorf("item to write: %w", err)
			}
			reqs = append(reqs, types.WriteRequest{PutRequest: &types.PutRequest{Item: item}})
			cost += float64((len(w.Item) + 1023) / 1024)
			continue
		}
		key, err := ddbjson.ToDynamoDB(w.Key)
		if err != nil {
			return fmt.Errorf("key to delete: %w", err)
		}
		reqs = append(reqs, types.WriteRequest{DeleteRequest: &types.DeleteRequest{Key: key}})
		cost++
	}
	if err := l.limit.Take(ctx, cost); err != nil {
		return err
	}
	return retry.Do(ctx, retry.Policy{
		What: "batch write to " + l.table, Initial: 50 * time.Millisecond, Max: 5 * time.Second, Bound: l.opts.RetryBound,
		Retryable: func(err error) (string, bool) {
			if errors.Is(err, errUnprocessed) {
				return "unprocessed items", true
			}
			return retry.Reason(err)
		},
		Hint:  "raise the table's capacity or lower --max-wcu, then run the restore again into the table (without --create)",
		Sleep: l.opts.sleep,
	}, func(ctx context.Context) error {
		out, err := l.api.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: map[string][]types.WriteRequest{l.table: reqs}})
		switch {
		case err != nil && ctx.Err() != nil:
			return ctx.Err()
		case err != nil && !retry.Retryable(err):
			return fmt.Errorf("batch write to %s: %w", l.table, err)
		case err != nil:
			return err
		}
		left := out.UnprocessedItems[l.table]
		l.count(reqs, left)
		if len(left) == 0 {
			return nil
		}
		err = fmt.Errorf("%d items still %w", len(left), errUnprocessed)
		if len(left) < len(reqs) {
			err = retry.Progress(err) // the bound counts time without any
		}
		reqs = left
		return err
	})
}

// errUnprocessed is the failure of a batch whose items DynamoDB left unprocessed (it
// does so when throttled): they are sent again.
var errUnprocessed = errors.New("unprocessed")

// count credits the requests of reqs that are not in left.
func (l *loader) count(reqs, left []types.WriteRequest) {
	var puts, dels int64
	for _, r := range reqs {
		if r.PutRequest != nil {
			puts++
		} else {
			dels++
		}
	}
	for _, r := range left {
		if r.PutRequest != nil {
			puts--
		} else {
			dels--
		}
	}
	l.puts.Add(puts)
	l.deletes.Add(dels)
	if l.opts.Progress != nil {
		l.opts.Progress.Add(puts+dels, 0)
	}
}
