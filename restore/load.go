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

// LoadOptions tune the writes into a table.
type LoadOptions struct {
	// Workers is the number of BatchWriteItem calls in flight; zero: 8.
	Workers int
	// MaxWCU caps the write rate in write capacity units per second (one per started KB of
	// an item, estimated from its JSON); zero: no cap.
	MaxWCU float64
	// RetryBound is how long one batch is retried without any progress before the load gives
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
	// Unwritten is what was handed to the load but not confirmed written when it stopped.
	Unwritten int64 `json:"unwritten"`
}

// batchLimit is BatchWriteItem's maximum number of requests.
const batchLimit = 25

// loader writes batches with parallel BatchWriteItem calls; the caller hands it writes
// one at a time (send) from one goroutine, and ends with finish or abort.
type loader struct {
	api     BatchWriteAPI
	table   string
	opts    LoadOptions
	limit   *retry.Limiter
	sent    atomic.Int64
	puts    atomic.Int64
	deletes atomic.Int64

	g       *errgroup.Group
	gctx    context.Context // ends when a writer fails or the load is aborted
	cancel  context.CancelFunc
	batches chan []Write
	cur     []Write // the batch being filled
}

// startLoad starts the writers of a load into table; they run until finish or abort.
func startLoad(ctx context.Context, api BatchWriteAPI, table string, opts LoadOptions) *loader {
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
	l := &loader{api: api, table: table, opts: opts, limit: retry.NewLimiter(opts.MaxWCU, 0),
		batches: make(chan []Write, opts.Workers), cur: make([]Write, 0, batchLimit)}
	if l.limit != nil {
		l.limit.Sleep = opts.sleep
	}
	ctx, l.cancel = context.WithCancel(ctx)
	l.g, l.gctx = errgroup.WithContext(ctx)
	for range opts.Workers {
		l.g.Go(func() error {
			for b := range l.batches {
				if err := l.write(l.gctx, b); err != nil {
					return err
				}
			}
			return nil
		})
	}
	return l
}

// send adds w to the batch being filled; a full batch waits for a writer. It fails once
// a writer failed.
func (l *loader) send(w Write) error {
	l.sent.Add(1)
	l.cur = append(l.cur, w)
	if len(l.cur) == batchLimit {
		return l.flush()
	}
	return nil
}

func (l *loader) flush() error {
	select {
	case l.batches <- l.cur:
		l.cur = make([]Write, 0, batchLimit)
		return nil
	case <-l.gctx.Done():
		return l.gctx.Err()
	}
}

// finish writes what is left and waits for the writers.
func (l *loader) finish() (LoadStats, error) {
	var err error
	if len(l.cur) > 0 {
		err = l.flush()
	}
	close(l.batches)
	if werr := l.g.Wait(); werr != nil {
		err = werr // a failed writer is why a flush failed
	}
	l.cancel()
	return l.stats(err)
}

// abort stops the writers after cause, waits for them, and returns cause, or the failure
// of a writer that came first (cause is then only its echo).
func (l *loader) abort(cause error) (LoadStats, error) {
	failed := l.gctx.Err() != nil
	l.cancel()
	close(l.batches)
	if werr := l.g.Wait(); failed && werr != nil {
		cause = werr
	}
	return l.stats(cause)
}

func (l *loader) stats(err error) (LoadStats, error) {
	st := LoadStats{Puts: l.puts.Load(), Deletes: l.deletes.Load()}
	st.Unwritten = l.sent.Load() - st.Puts - st.Deletes
	if err != nil && errors.Is(err, retry.ErrGaveUp) {
		err = fmt.Errorf("write to table %s: %w: %d items written, %d not written", l.table, err, st.Puts+st.Deletes, st.Unwritten)
	}
	return st, err
}

// load writes what produce sends to table with parallel BatchWriteItem calls, retrying
// unprocessed items and throttled or failed calls with exponential backoff; send blocks
// while the writers are busy. When a batch cannot be written load stops and returns an
// error that counts what was written; the stats are valid either way. Items sent must
// have distinct keys within a batch; a restore's items always have distinct keys.
func load(ctx context.Context, api BatchWriteAPI, table string, opts LoadOptions, produce func(ctx context.Context, send func(Write) error) error) (LoadStats, error) {
	l := startLoad(ctx, api, table, opts)
	if err := produce(l.gctx, l.send); err != nil {
		return l.abort(err)
	}
	return l.finish()
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
