package shards

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"
	"github.com/ddbtape/ddbtape/internal/fakestreams"
)

// env is a fake Streams server reached through the real SDK client (its own retries
// off), and a fake clock that only the reader's injected Sleep moves.
type env struct {
	t         *testing.T
	fake      *fakestreams.Server
	client    *dynamodbstreams.Client
	streamARN string

	mu     sync.Mutex
	clock  time.Time
	sleeps []time.Duration
}

func newEnv(t *testing.T) *env {
	t.Helper()
	return newEnvWith(t, fakestreams.Options{})
}

func newEnvWith(t *testing.T, opts fakestreams.Options) *env {
	t.Helper()
	fake := fakestreams.NewServer(opts)
	t.Cleanup(fake.Close)
	arn, err := fake.CreateTable(fakestreams.TableSpec{Name: "orders", StreamViewType: ViewNewAndOldImages})
	if err != nil {
		t.Fatal(err)
	}
	return &env{
		t:         t,
		fake:      fake,
		client:    dynamodbstreams.NewFromConfig(fake.Config()),
		streamARN: arn,
		clock:     time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC),
	}
}

func (e *env) now() time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.clock
}

// sleep records the wait and moves the fake clock instead of sleeping.
func (e *env) sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.sleeps = append(e.sleeps, d)
	e.clock = e.clock.Add(d)
	return nil
}

func (e *env) slept() []time.Duration {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.sleeps)
}

func (e *env) reader() *Reader {
	return &Reader{
		API:       e.client,
		StreamARN: e.streamARN,
		Logger:    slog.New(slog.NewTextHandler(e.t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug})),
		Sleep:     e.sleep,
		Now:       e.now,
	}
}

func (e *env) addShard(id, parent string) {
	e.t.Helper()
	if err := e.fake.AddShard(e.streamARN, id, parent); err != nil {
		e.t.Fatal(err)
	}
}

// appendN appends n records with keys k<first>..k<first+n-1> and returns their sequence numbers.
func (e *env) appendN(shardID string, first, n int) []string {
	e.t.Helper()
	recs := make([]fakestreams.Record, n)
	for i := range recs {
		recs[i] = item(fmt.Sprintf("k%d", first+i), 1)
	}
	seqs, err := e.fake.AppendRecords(shardID, recs...)
	if err != nil {
		e.t.Fatal(err)
	}
	return seqs
}

func item(pk string, version int) fakestreams.Record {
	v := fmt.Sprint(version)
	return fakestreams.Record{
		EventName: "MODIFY",
		Keys:      map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: pk}},
		NewImage: map[string]types.AttributeValue{
			"pk": &types.AttributeValueMemberS{Value: pk},
			"v":  &types.AttributeValueMemberN{Value: v},
		},
	}
}

// shard returns the shard as ListShards reports it.
func (e *env) shard(id string) Shard {
	e.t.Helper()
	all, err := e.reader().ListShards(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	for _, s := range all {
		if s.ID == id {
			return s
		}
	}
	e.t.Fatalf("shard %s not listed", id)
	return Shard{}
}

// collector is a Handler that keeps every batch.
type collector struct {
	mu      sync.Mutex
	batches []Batch
	// then, when set, runs after each batch is kept; its error stops the reader.
	then func(i int, b Batch) error
}

func (c *collector) handle(_ context.Context, b Batch) error {
	c.mu.Lock()
	c.batches = append(c.batches, b)
	i := len(c.batches) - 1
	c.mu.Unlock()
	if c.then != nil {
		return c.then(i, b)
	}
	return nil
}

func (c *collector) seqs() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, b := range c.batches {
		for _, r := range b.Records {
			out = append(out, aws.ToString(r.Dynamodb.SequenceNumber))
		}
	}
	return out
}

// shape describes each batch as "n" (records), "-" (empty), "gap", with "|end" appended
// for End, so tests compare the whole delivery at once.
func (c *collector) shape() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, b := range c.batches {
		s := fmt.Sprint(len(b.Records))
		switch {
		case b.Trimmed:
			s = "gap"
		case len(b.Records) == 0:
			s = "-"
		}
		if b.End {
			s += "|end"
		}
		out = append(out, s)
	}
	return out
}

func equalSeqs(t *testing.T, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Fatalf("delivered %d records, want %d\n got: %v\nwant: %v", len(got), len(want), got, want)
	}
}

// fakeClock is a settable clock for the fake server (iterator ages).
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}
