package restore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"

	"github.com/ddbtape/ddbtape/retry"
)

// fakeBatchWriter is a table in memory whose BatchWriteItem answers per call.
type fakeBatchWriter struct {
	mu    sync.Mutex
	items map[string]bool // by pk
	calls int
	// answer decides, per call, how many requests to leave unprocessed or which error to
	// return instead; nil processes everything.
	answer func(call int, n int) (unprocessed int, err error)
}

func (f *fakeBatchWriter) BatchWriteItem(ctx context.Context, in *dynamodb.BatchWriteItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	reqs := in.RequestItems["t"]
	if len(reqs) > batchLimit {
		return nil, fmt.Errorf("batch of %d", len(reqs))
	}
	left := 0
	if f.answer != nil {
		var err error
		if left, err = f.answer(f.calls, len(reqs)); err != nil {
			return nil, err
		}
	}
	done := reqs[:len(reqs)-left]
	for _, r := range done {
		if r.PutRequest != nil {
			f.items[r.PutRequest.Item["pk"].(*types.AttributeValueMemberS).Value] = true
		} else {
			delete(f.items, r.DeleteRequest.Key["pk"].(*types.AttributeValueMemberS).Value)
		}
	}
	out := &dynamodb.BatchWriteItemOutput{}
	if left > 0 {
		out.UnprocessedItems = map[string][]types.WriteRequest{"t": reqs[len(reqs)-left:]}
	}
	return out, nil
}

func produceN(n int) func(ctx context.Context, send func(Write) error) error {
	return func(ctx context.Context, send func(Write) error) error {
		for i := range n {
			if err := send(Write{Item: fmt.Sprintf(`{"pk":{"S":"k%d"}}`, i)}); err != nil {
				return err
			}
		}
		return nil
	}
}

func noSleep(context.Context, time.Duration) error { return nil }

var throttled = &smithy.GenericAPIError{Code: "ProvisionedThroughputExceededException", Message: "slow down"}

func TestLoad_RetriesUnprocessedItemsAndThrottlingUntilEveryItemIsWritten(t *testing.T) {
	f := &fakeBatchWriter{items: map[string]bool{}, answer: func(call, n int) (int, error) {
		switch call % 3 {
		case 0:
			return 0, throttled
		case 1:
			return n / 2, nil // half left unprocessed
		}
		return 0, nil
	}}
	st, err := load(context.Background(), f, "t", LoadOptions{Workers: 3, sleep: noSleep}, produceN(1000))
	if err != nil {
		t.Fatal(err)
	}
	if len(f.items) != 1000 || st.Puts != 1000 || st.Unwritten != 0 {
		t.Errorf("table holds %d items, stats %+v", len(f.items), st)
	}
}

func TestLoad_DeletesAndPutsInOneRun(t *testing.T) {
	f := &fakeBatchWriter{items: map[string]bool{"old": true}}
	st, err := load(context.Background(), f, "t", LoadOptions{sleep: noSleep}, func(ctx context.Context, send func(Write) error) error {
		if err := send(Write{Key: `{"pk":{"S":"old"}}`}); err != nil {
			return err
		}
		return send(Write{Item: `{"pk":{"S":"new"}}`})
	})
	if err != nil || st.Puts != 1 || st.Deletes != 1 || len(f.items) != 1 || !f.items["new"] {
		t.Errorf("err %v, stats %+v, items %v", err, st, f.items)
	}
}

func TestLoad_GivesUpAfterTheBoundAndSaysHowManyWereWritten(t *testing.T) {
	f := &fakeBatchWriter{items: map[string]bool{}, answer: func(call, n int) (int, error) {
		if call > 4 {
			return 0, throttled
		}
		return 0, nil
	}}
	slept := time.Duration(0)
	var mu sync.Mutex
	sleep := func(ctx context.Context, d time.Duration) error {
		mu.Lock()
		defer mu.Unlock()
		slept += d
		time.Sleep(time.Millisecond) // lets the elapsed-time bound pass in real time
		return nil
	}
	st, err := load(context.Background(), f, "t", LoadOptions{Workers: 1, RetryBound: 20 * time.Millisecond, sleep: sleep}, produceN(200))
	if !errors.Is(err, retry.ErrGaveUp) {
		t.Fatalf("err = %v, want retry.ErrGaveUp", err)
	}
	// The batch in flight and those queued behind it are unwritten; the producer stopped.
	if st.Puts != 100 || st.Unwritten < batchLimit || int64(len(f.items)) != st.Puts {
		t.Errorf("stats %+v, table holds %d", st, len(f.items))
	}
	if msg := err.Error(); !strings.Contains(msg, fmt.Sprintf("100 items written, %d not written", st.Unwritten)) || !strings.Contains(msg, "slow down") {
		t.Errorf("message %q", msg)
	}
}

func TestLoad_StopsAtOnceOnARequestMistake(t *testing.T) {
	f := &fakeBatchWriter{items: map[string]bool{}, answer: func(call, n int) (int, error) {
		return 0, &smithy.GenericAPIError{Code: "ValidationException", Message: "bad item"}
	}}
	_, err := load(context.Background(), f, "t", LoadOptions{Workers: 1, sleep: noSleep}, produceN(10))
	if err == nil || errors.Is(err, retry.ErrGaveUp) || !strings.Contains(err.Error(), "bad item") || f.calls != 1 {
		t.Errorf("err = %v after %d calls", err, f.calls)
	}
}
