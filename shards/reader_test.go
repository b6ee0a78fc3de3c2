package shards

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"
	"github.com/aws/smithy-go"

	"github.com/ddbtape/ddbtape/internal/fakestreams"
	"github.com/ddbtape/ddbtape/retry"
)

var errStop = errors.New("test stops the reader")

func TestReader_ReadsClosedShardToItsEndAtFullSpeed(t *testing.T) {
	e := newEnv(t)
	e.addShard("s1", "")
	want := e.appendN("s1", 0, 2500)
	if err := e.fake.CloseShard("s1"); err != nil {
		t.Fatal(err)
	}
	// DynamoDB may answer empty pages inside a closed shard before its end.
	if err := e.fake.InjectEmptyPages("s1", 2); err != nil {
		t.Fatal(err)
	}
	var c collector
	if err := e.reader().Read(context.Background(), e.shard("s1"), "", TrimHorizon, c.handle); err != nil {
		t.Fatalf("Read: %v", err)
	}
	equalSeqs(t, c.seqs(), want)
	if got, wantShape := c.shape(), []string{"-", "-", "1000", "1000", "500|end"}; !slices.Equal(got, wantShape) {
		t.Errorf("batches %v, want %v", got, wantShape)
	}
	if s := e.slept(); len(s) != 0 {
		t.Errorf("closed shard waited %v between polls, want no waits", s)
	}
}

func TestReader_StartsAfterTheGivenSequenceNumber(t *testing.T) {
	e := newEnv(t)
	e.addShard("s1", "")
	seqs := e.appendN("s1", 0, 20)
	e.fake.CloseShard("s1")
	var c collector
	// Latest is ignored when after is given.
	if err := e.reader().Read(context.Background(), e.shard("s1"), seqs[9], Latest, c.handle); err != nil {
		t.Fatal(err)
	}
	equalSeqs(t, c.seqs(), seqs[10:])
}

func TestReader_LatestSkipsOlderRecordsAndReadsNewOnes(t *testing.T) {
	e := newEnv(t)
	e.addShard("s1", "")
	e.appendN("s1", 0, 5)
	var fresh []string
	c := collector{then: func(i int, b Batch) error {
		switch i {
		case 0:
			fresh = e.appendN("s1", 100, 3)
		case 1:
			return errStop
		}
		return nil
	}}
	err := e.reader().Read(context.Background(), e.shard("s1"), "", Latest, c.handle)
	if !errors.Is(err, errStop) {
		t.Fatalf("Read = %v, want the handler's error", err)
	}
	equalSeqs(t, c.seqs(), fresh)
}

func TestReader_HandlerErrorStopsReaderUnchanged(t *testing.T) {
	e := newEnv(t)
	e.addShard("s1", "")
	e.appendN("s1", 0, 3)
	c := collector{then: func(int, Batch) error { return errStop }}
	err := e.reader().Read(context.Background(), e.shard("s1"), "", TrimHorizon, c.handle)
	if err != errStop {
		t.Fatalf("Read = %v, want errStop itself", err)
	}
	if len(c.batches) != 1 {
		t.Errorf("handler called %d times after failing, want 1", len(c.batches))
	}
}

// The pipeline's scheduling, in small: list, build the lineage, read what is Ready,
// mark finished on End. A split after the parent's first page must deliver every parent
// record before any child record, and keep each key's versions in order.
func TestReader_SplitMidReadReadsChildrenOnlyAfterParentEnd(t *testing.T) {
	e := newEnv(t)
	e.addShard("p", "")
	version := map[string]int{}
	put := func(n int) {
		for i := range n {
			pk := fmt.Sprintf("k%d", i%6)
			version[pk]++
			if _, err := e.fake.Put(e.streamARN, item(pk, version[pk])); err != nil {
				t.Fatal(err)
			}
		}
	}
	put(12)
	var parentCalls atomic.Int32
	e.fake.OnGetRecords(func(shardID string) {
		if shardID == "p" && parentCalls.Add(1) == 2 {
			if err := e.fake.Split("p", "c1", "c2"); err != nil {
				t.Error(err)
			}
			put(18)
		}
	})

	r := e.reader()
	r.Limit = 5 // several parent pages, so the split lands mid-read
	finished := map[string]bool{}
	var order []string // shard of each delivered record
	lastVersion := map[string]int{}
	total := 0
	for round := 0; round < 5 && total < 30; round++ {
		all, err := r.ListShards(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		ready := BuildLineage(all).Ready(func(id string) bool { return finished[id] }, nil)
		for _, s := range ready {
			h := func(_ context.Context, b Batch) error {
				for _, rec := range b.Records {
					pk := rec.Dynamodb.Keys["pk"].(*types.AttributeValueMemberS).Value
					v, _ := strconv.Atoi(rec.Dynamodb.NewImage["v"].(*types.AttributeValueMemberN).Value)
					if v != lastVersion[pk]+1 {
						t.Errorf("key %s: version %d after %d (shard %s)", pk, v, lastVersion[pk], b.ShardID)
					}
					lastVersion[pk] = v
					order = append(order, b.ShardID)
					total++
				}
				if b.End {
					finished[b.ShardID] = true
				}
				if s.Open() && len(b.Records) == 0 { // children stay open: stop when idle
					return errStop
				}
				return nil
			}
			if err := r.Read(context.Background(), s, "", TrimHorizon, h); err != nil && !errors.Is(err, errStop) {
				t.Fatalf("Read %s: %v", s.ID, err)
			}
		}
	}
	if total != 30 {
		t.Fatalf("delivered %d records, want 30", total)
	}
	if !finished["p"] {
		t.Fatal("parent never reached End")
	}
	firstChild := slices.IndexFunc(order, func(id string) bool { return id != "p" })
	if firstChild != 12 || slices.Contains(order[firstChild:], "p") {
		t.Errorf("record shards in delivery order %v: want the 12 parent records first", order)
	}
}

func TestReader_ResumesAfterExpiredIteratorWithoutLossOrRepeat(t *testing.T) {
	for _, expireAt := range []int32{1, 2, 3, 4} {
		t.Run(fmt.Sprintf("expired before GetRecords call %d", expireAt), func(t *testing.T) {
			e := newEnv(t)
			e.addShard("s1", "")
			want := e.appendN("s1", 0, 35) // four pages of 10
			e.fake.CloseShard("s1")
			var calls atomic.Int32
			e.fake.OnGetRecords(func(string) {
				if calls.Add(1) == expireAt {
					e.fake.ExpireIterators()
				}
			})
			r := e.reader()
			r.Limit = 10
			var c collector
			if err := r.Read(context.Background(), e.shard("s1"), "", TrimHorizon, c.handle); err != nil {
				t.Fatalf("Read: %v", err)
			}
			equalSeqs(t, c.seqs(), want)
			if got := e.fake.Calls(fakestreams.OpGetShardIterator); got != 2 {
				t.Errorf("GetShardIterator calls = %d, want 2 (start, renewal)", got)
			}
		})
	}
}

func TestReader_ResumesAfterIteratorOutlivesItsTTL(t *testing.T) {
	clock := &fakeClock{t: time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)}
	e := newEnvWith(t, fakestreams.Options{Now: clock.now})
	e.addShard("s1", "")
	want := e.appendN("s1", 0, 12)
	e.fake.CloseShard("s1")
	r := e.reader()
	r.Limit = 5
	c := collector{then: func(i int, b Batch) error {
		if i == 0 { // a handler slower than the iterator's 15-minute lifetime
			clock.advance(16 * time.Minute)
		}
		return nil
	}}
	if err := r.Read(context.Background(), e.shard("s1"), "", TrimHorizon, c.handle); err != nil {
		t.Fatalf("Read: %v", err)
	}
	equalSeqs(t, c.seqs(), want)
}

func TestReader_StopsWhenEveryIteratorExpiresBeforeUse(t *testing.T) {
	clock := &fakeClock{t: time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)}
	e := newEnvWith(t, fakestreams.Options{Now: clock.now})
	e.addShard("s1", "")
	e.appendN("s1", 0, 3)
	e.fake.OnGetRecords(func(string) { clock.advance(time.Hour) })
	var c collector
	err := e.reader().Read(context.Background(), e.shard("s1"), "", TrimHorizon, c.handle)
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) || apiErr.ErrorCode() != "ExpiredIteratorException" {
		t.Fatalf("Read = %v, want an error carrying ExpiredIteratorException", err)
	}
	if n := e.fake.Calls(fakestreams.OpGetShardIterator); n != maxConsecutiveExpired+1 {
		t.Errorf("GetShardIterator calls = %d, want %d", n, maxConsecutiveExpired+1)
	}
	if len(c.batches) != 0 {
		t.Errorf("handler got %d batches, want none", len(c.batches))
	}
}

func TestReader_RetriesTransientFailuresWithoutLossOrRepeat(t *testing.T) {
	faults := append(slices.Clone(fakestreams.ThrottlingFaults),
		fakestreams.InternalServerError, fakestreams.ServiceUnavailable, fakestreams.ConnectionReset)
	for _, op := range []string{fakestreams.OpGetRecords, fakestreams.OpGetShardIterator} {
		for _, f := range faults {
			t.Run(op+"/"+f.String(), func(t *testing.T) {
				e := newEnv(t)
				e.addShard("s1", "")
				want := e.appendN("s1", 0, 25)
				e.fake.CloseShard("s1")
				sh := e.shard("s1")
				const storm = 6
				e.fake.FailNext(op, storm, f)
				r := e.reader()
				r.Limit = 10
				var c collector
				if err := r.Read(context.Background(), sh, "", TrimHorizon, c.handle); err != nil {
					t.Fatalf("Read: %v", err)
				}
				equalSeqs(t, c.seqs(), want)
				waits := e.slept()
				if len(waits) != storm {
					t.Fatalf("waited %d times (%v), want one backoff per failure: %d", len(waits), waits, storm)
				}
				for i, w := range waits {
					if w <= 0 || w > retryMaxInterval {
						t.Errorf("wait %d = %v, want within (0, %v]", i, w, retryMaxInterval)
					}
				}
				if waits[storm-1] <= waits[0] {
					t.Errorf("waits %v do not grow", waits)
				}
			})
		}
	}
}

func TestReader_GivesUpAfterRetryBoundWithoutDeliveringAnything(t *testing.T) {
	for _, tc := range []struct {
		op    string
		fault fakestreams.Fault
		code  string
	}{
		{fakestreams.OpGetRecords, fakestreams.LimitExceeded, "LimitExceededException"},
		{fakestreams.OpGetShardIterator, fakestreams.ServiceUnavailable, "ServiceUnavailable"},
		{fakestreams.OpGetRecords, fakestreams.ConnectionReset, ""},
	} {
		t.Run(tc.op+"/"+tc.fault.String(), func(t *testing.T) {
			e := newEnv(t)
			e.addShard("s1", "")
			e.appendN("s1", 0, 5)
			sh := e.shard("s1")
			e.fake.FailNext(tc.op, 10_000, tc.fault)
			r := e.reader()
			r.RetryBound = time.Minute
			obs := &gaveUpObserver{}
			r.Observer = obs
			var c collector
			err := r.Read(context.Background(), sh, "", TrimHorizon, c.handle)
			if !errors.Is(err, retry.ErrGaveUp) {
				t.Fatalf("Read = %v, want an error wrapping retry.ErrGaveUp", err)
			}
			if got := obs.ops(); len(got) != 1 || got[0] != tc.op {
				t.Errorf("observer heard give-ups %v, want one of %s", got, tc.op)
			}
			var apiErr smithy.APIError
			if tc.code != "" && (!errors.As(err, &apiErr) || apiErr.ErrorCode() != tc.code) {
				t.Errorf("Read error %v does not carry the last cause %s", err, tc.code)
			}
			if len(c.seqs()) != 0 {
				t.Errorf("handler saw %d records, want none", len(c.seqs()))
			}
			var total time.Duration
			for _, w := range e.slept() {
				total += w
			}
			if total > r.RetryBound || total < r.RetryBound/3 {
				t.Errorf("retried for %v in total, want most of and at most the bound %v", total, r.RetryBound)
			}
		})
	}
}

// gaveUpObserver records the operations whose retries gave up.
type gaveUpObserver struct {
	nopObserver
	mu   sync.Mutex
	gave []string
}

func (o *gaveUpObserver) GaveUp(op string) { o.mu.Lock(); o.gave = append(o.gave, op); o.mu.Unlock() }
func (o *gaveUpObserver) ops() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]string(nil), o.gave...)
}

func TestReader_RateLimitsRetryLogs(t *testing.T) {
	e := newEnv(t)
	e.addShard("s1", "")
	e.appendN("s1", 0, 1)
	e.fake.CloseShard("s1")
	sh := e.shard("s1")
	const storm = 25
	e.fake.FailNext(fakestreams.OpGetRecords, storm, fakestreams.ProvisionedThroughputExceeded)
	var logs countingHandler
	r := e.reader()
	r.Logger = slogLogger(&logs)
	var c collector
	if err := r.Read(context.Background(), sh, "", TrimHorizon, c.handle); err != nil {
		t.Fatal(err)
	}
	n := logs.count("retrying")
	// 25 retries over about 3 minutes of (fake) backoff: the first, then one per 30 s.
	if n < 2 || n > 15 {
		t.Errorf("logged %d retry lines for %d retries over %v, want the first and then at most one per %v", n, storm, sum(e.slept()), retryLogEvery)
	}
}

func TestReader_TrimmedRecordsBecomeAGapThenReadingContinuesFromTrimHorizon(t *testing.T) {
	t.Run("position trimmed before GetShardIterator", func(t *testing.T) {
		e := newEnv(t)
		e.addShard("s1", "")
		seqs := e.appendN("s1", 0, 20)
		e.fake.CloseShard("s1")
		if err := e.fake.Trim("s1", seqs[9]); err != nil {
			t.Fatal(err)
		}
		var c collector
		if err := e.reader().Read(context.Background(), e.shard("s1"), seqs[2], TrimHorizon, c.handle); err != nil {
			t.Fatalf("Read: %v", err)
		}
		equalSeqs(t, c.seqs(), seqs[10:])
		if got, want := c.shape(), []string{"gap", "10|end"}; !slices.Equal(got, want) {
			t.Errorf("batches %v, want %v", got, want)
		}
	})
	t.Run("records trimmed under an open iterator", func(t *testing.T) {
		e := newEnv(t)
		e.addShard("s1", "")
		seqs := e.appendN("s1", 0, 20)
		e.fake.CloseShard("s1")
		var calls atomic.Int32
		e.fake.OnGetRecords(func(string) {
			if calls.Add(1) == 2 {
				e.fake.Trim("s1", seqs[7])
			}
		})
		r := e.reader()
		r.Limit = 5
		var c collector
		if err := r.Read(context.Background(), e.shard("s1"), "", TrimHorizon, c.handle); err != nil {
			t.Fatalf("Read: %v", err)
		}
		equalSeqs(t, c.seqs(), slices.Concat(seqs[:5], seqs[8:]))
		if got, want := c.shape(), []string{"5", "gap", "5", "5", "2|end"}; !slices.Equal(got, want) {
			t.Errorf("batches %v, want %v", got, want)
		}
	})
	t.Run("trim at the last delivered record is no gap", func(t *testing.T) {
		e := newEnv(t)
		e.addShard("s1", "")
		seqs := e.appendN("s1", 0, 10)
		e.fake.CloseShard("s1")
		e.fake.Trim("s1", seqs[4])
		var c collector
		if err := e.reader().Read(context.Background(), e.shard("s1"), seqs[4], TrimHorizon, c.handle); err != nil {
			t.Fatal(err)
		}
		if got, want := c.shape(), []string{"5|end"}; !slices.Equal(got, want) {
			t.Errorf("batches %v, want %v", got, want)
		}
	})
}

func TestReader_VanishedShardEndsWithAGap(t *testing.T) {
	t.Run("gone before the read", func(t *testing.T) {
		e := newEnv(t)
		e.addShard("s1", "")
		e.appendN("s1", 0, 3)
		e.fake.CloseShard("s1")
		sh := e.shard("s1")
		e.fake.RemoveShard("s1")
		var c collector
		if err := e.reader().Read(context.Background(), sh, "", TrimHorizon, c.handle); err != nil {
			t.Fatalf("Read = %v, want nil", err)
		}
		if got, want := c.shape(), []string{"gap|end"}; !slices.Equal(got, want) {
			t.Errorf("batches %v, want %v", got, want)
		}
	})
	t.Run("gone mid-read", func(t *testing.T) {
		e := newEnv(t)
		e.addShard("s1", "")
		seqs := e.appendN("s1", 0, 10)
		e.fake.CloseShard("s1")
		sh := e.shard("s1")
		r := e.reader()
		r.Limit = 4
		c := collector{then: func(i int, _ Batch) error {
			if i == 0 {
				e.fake.RemoveShard("s1")
			}
			return nil
		}}
		if err := r.Read(context.Background(), sh, "", TrimHorizon, c.handle); err != nil {
			t.Fatalf("Read = %v, want nil", err)
		}
		equalSeqs(t, c.seqs(), seqs[:4])
		if got, want := c.shape(), []string{"4", "gap|end"}; !slices.Equal(got, want) {
			t.Errorf("batches %v, want %v", got, want)
		}
	})
}

func TestReader_IdleBackoffGrowsWhileEmptyAndResetsOnRecords(t *testing.T) {
	e := newEnv(t)
	e.addShard("s1", "")
	sh := e.shard("s1")
	r := e.reader()
	r.PollInterval = time.Second
	r.MaxIdleInterval = 5 * time.Second
	r.Limit = 100
	c := collector{then: func(i int, _ Batch) error {
		switch i {
		case 3:
			e.appendN("s1", 0, 3)
		case 6:
			e.appendN("s1", 10, 101) // one full batch, then one record
		case 9:
			return errStop
		}
		return nil
	}}
	if err := r.Read(context.Background(), sh, "", TrimHorizon, c.handle); !errors.Is(err, errStop) {
		t.Fatalf("Read = %v", err)
	}
	if got, want := c.shape(), []string{"-", "-", "-", "-", "3", "-", "-", "100", "1", "-"}; !slices.Equal(got, want) {
		t.Fatalf("batches %v, want %v", got, want)
	}
	s := time.Second
	want := []time.Duration{1 * s, 2 * s, 4 * s, 5 * s, 1 * s, 1 * s, 2 * s /* full batch: none */, 1 * s}
	if got := e.slept(); !slices.Equal(got, want) {
		t.Errorf("waits %v, want %v", got, want)
	}
}

func TestReader_PolledAtIsTheTimeOfTheCall(t *testing.T) {
	e := newEnv(t)
	e.addShard("s1", "")
	sh := e.shard("s1")
	c := collector{then: func(i int, _ Batch) error {
		if i == 2 {
			return errStop
		}
		return nil
	}}
	start := e.now()
	e.reader().Read(context.Background(), sh, "", TrimHorizon, c.handle)
	want := []time.Time{start, start.Add(time.Second), start.Add(3 * time.Second)}
	for i, b := range c.batches {
		if !b.PolledAt.Equal(want[i]) || b.ShardID != "s1" {
			t.Errorf("batch %d: PolledAt %v shard %q, want %v s1", i, b.PolledAt, b.ShardID, want[i])
		}
	}
}

func TestReader_CancelledContextStopsPromptly(t *testing.T) {
	t.Run("while waiting to poll", func(t *testing.T) {
		e := newEnv(t)
		e.addShard("s1", "")
		r := e.reader()
		r.Sleep = nil // the real wait, an hour long
		r.PollInterval = time.Hour
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		polled := make(chan struct{})
		done := make(chan error, 1)
		go func() {
			done <- r.Read(ctx, e.shard("s1"), "", TrimHorizon, func(context.Context, Batch) error {
				close(polled)
				return nil
			})
		}()
		<-polled
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("Read = %v, want context.Canceled", err)
		}
	})
	t.Run("while retrying", func(t *testing.T) {
		e := newEnv(t)
		e.addShard("s1", "")
		sh := e.shard("s1")
		e.fake.FailNext(fakestreams.OpGetRecords, 10_000, fakestreams.Throttling)
		ctx, cancel := context.WithCancel(context.Background())
		r := e.reader()
		r.Sleep = func(ctx context.Context, d time.Duration) error {
			cancel()
			return e.sleep(ctx, d)
		}
		err := r.Read(ctx, sh, "", TrimHorizon, func(context.Context, Batch) error { return nil })
		if err != context.Canceled {
			t.Fatalf("Read = %v, want context.Canceled itself", err)
		}
	})
	t.Run("already cancelled", func(t *testing.T) {
		e := newEnv(t)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		err := e.reader().Read(ctx, Shard{ID: "s1"}, "", TrimHorizon, func(context.Context, Batch) error { return nil })
		if err != context.Canceled || e.fake.Calls(fakestreams.OpGetShardIterator) != 0 {
			t.Fatalf("Read = %v after %d calls, want context.Canceled and no call", err, e.fake.Calls(fakestreams.OpGetShardIterator))
		}
	})
}

func TestReader_DefaultsApply(t *testing.T) {
	c := (&Reader{}).config()
	if c.PollInterval != time.Second || c.MaxIdleInterval != time.Minute || c.Limit != 1000 ||
		c.RetryBound != 5*time.Minute || c.Sleep == nil || c.Now == nil || c.Logger == nil {
		t.Errorf("defaults = %+v", c)
	}
	c = (&Reader{PollInterval: 90 * time.Second}).config()
	if c.MaxIdleInterval != 90*time.Second {
		t.Errorf("MaxIdleInterval %v below PollInterval %v", c.MaxIdleInterval, c.PollInterval)
	}
}

func TestParseStartPosition(t *testing.T) {
	for in, want := range map[string]StartPosition{"trim-horizon": TrimHorizon, "TRIM_HORIZON": TrimHorizon, "latest": Latest} {
		if got, err := ParseStartPosition(in); err != nil || got != want {
			t.Errorf("ParseStartPosition(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	if _, err := ParseStartPosition("oldest"); err == nil {
		t.Error("ParseStartPosition(oldest) accepted")
	}
}

func sum(ds []time.Duration) time.Duration {
	var t time.Duration
	for _, d := range ds {
		t += d
	}
	return t
}

// TestReader_ReadsOneBatchAheadOnlyWhileTheShardIsBehind checks the read-ahead: while
// the handler works on a full batch the next GetRecords is made, and while it works on a
// batch that caught up with the shard no call is made (the poll waits for it, as the
// idle backoff needs).
func TestReader_ReadsOneBatchAheadOnlyWhileTheShardIsBehind(t *testing.T) {
	e := newEnv(t)
	e.addShard("s1", "")
	seqs := e.appendN("s1", 0, 30)
	sh := e.shard("s1")
	r := e.reader()
	r.Limit = 10
	calls := func() int64 { return e.fake.Calls(fakestreams.OpGetRecords) }
	c := collector{then: func(i int, b Batch) error {
		switch i {
		case 0:
			deadline := time.Now().Add(30 * time.Second)
			for calls() < 2 {
				if time.Now().After(deadline) {
					return fmt.Errorf("the batch after a full one was not fetched while the handler worked (%d calls)", calls())
				}
				time.Sleep(5 * time.Millisecond)
			}
		case 3:
			time.Sleep(100 * time.Millisecond)
			if n := calls(); n != 4 {
				return fmt.Errorf("%d GetRecords while the handler works on a batch that caught up, want 4: no read-ahead of a quiet shard", n)
			}
			return errStop
		}
		return nil
	}}
	if err := r.Read(context.Background(), sh, "", TrimHorizon, c.handle); !errors.Is(err, errStop) {
		t.Fatalf("Read = %v", err)
	}
	equalSeqs(t, c.seqs(), seqs)
	if got, want := c.shape(), []string{"10", "10", "10", "-"}; !slices.Equal(got, want) {
		t.Fatalf("batches %v, want %v", got, want)
	}
}
