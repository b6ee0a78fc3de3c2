package shards

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/ddbtape/ddbtape/internal/fakestreams"
)

// callCounter is an Observer counting the calls it hears of, by operation.
type callCounter struct {
	mu    sync.Mutex
	calls map[string]int
}

func (c *callCounter) GaveUp(string) {}

func (c *callCounter) Call(op string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.calls == nil {
		c.calls = map[string]int{}
	}
	c.calls[op]++
}

func (c *callCounter) Retry(string, bool) {}

func (c *callCounter) count(op string) int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return int64(c.calls[op])
}

// A stop starts no call and cuts none off: every call the Observer counts (the billed
// unit) reached the service, and the records of a call in flight reach the handler.
func TestReader_AStopLetsTheCallInFlightFinishAndStartsNoOther(t *testing.T) {
	t.Run("stop as a retry's wait ends", func(t *testing.T) {
		e := newEnv(t)
		e.addShard("s1", "")
		e.appendN("s1", 0, 3)
		e.fake.FailNext(fakestreams.OpGetRecords, 1, fakestreams.InternalServerError)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		obs := &callCounter{}
		r := e.reader()
		r.Observer = obs
		r.Sleep = func(ctx context.Context, d time.Duration) error {
			err := e.sleep(ctx, d)
			cancel() // the stop comes just as the wait ends
			return err
		}
		err := r.Read(ctx, e.shard("s1"), "", TrimHorizon, func(context.Context, Batch) error { return nil })
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Read = %v, want context.Canceled", err)
		}
		if got, sent := obs.count("GetRecords"), e.fake.Calls(fakestreams.OpGetRecords); got != sent {
			t.Fatalf("GetRecords calls counted %d, the service saw %d", got, sent)
		}
	})
	t.Run("stop while a call is at the service", func(t *testing.T) {
		e := newEnv(t)
		e.addShard("s1", "")
		want := e.appendN("s1", 0, 3)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		e.fake.OnGetRecords(func(string) { cancel() })
		obs := &callCounter{}
		r := e.reader()
		r.Observer = obs
		var c collector
		err := r.Read(ctx, e.shard("s1"), "", TrimHorizon, c.handle)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Read = %v, want context.Canceled", err)
		}
		equalSeqs(t, c.seqs(), want)
		if got, sent := obs.count("GetRecords"), e.fake.Calls(fakestreams.OpGetRecords); got != sent || sent != 1 {
			t.Fatalf("GetRecords calls counted %d, the service saw %d; want 1", got, sent)
		}
	})
}
