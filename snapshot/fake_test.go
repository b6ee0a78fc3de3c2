package snapshot

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/ddbtape/ddbtape/ddbjson"
	"github.com/ddbtape/ddbtape/internal/snapshottest"
	"github.com/ddbtape/ddbtape/storage"
	"github.com/ddbtape/ddbtape/storage/dir"
	"github.com/ddbtape/ddbtape/writer"
)

// fakeDB is a DynamoDB stand-in: function fields, so each test says what it answers.
type fakeDB struct {
	describe func(ctx context.Context, in *dynamodb.DescribeTableInput) (*dynamodb.DescribeTableOutput, error)
	scan     func(ctx context.Context, in *dynamodb.ScanInput) (*dynamodb.ScanOutput, error)
}

func (f *fakeDB) DescribeTable(ctx context.Context, in *dynamodb.DescribeTableInput, _ ...func(*dynamodb.Options)) (*dynamodb.DescribeTableOutput, error) {
	return f.describe(ctx, in)
}

func (f *fakeDB) Scan(ctx context.Context, in *dynamodb.ScanInput, _ ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error) {
	return f.scan(ctx, in)
}

// memTable is an in-memory table with key pk (S) that answers a parallel Scan the way
// DynamoDB does: items split among segments, pages of Limit items (default 7), a
// LastEvaluatedKey after every page but the last. It counts the pages it served.
type memTable struct {
	name    string
	created time.Time
	items   []map[string]types.AttributeValue // sorted by pk

	mu        sync.Mutex
	pagesBy   map[int]int // segment -> pages served
	starts    []string    // ExclusiveStartKey pk of every call, "" for none
	failCalls func(call int, in *dynamodb.ScanInput) error
	calls     int
}

func newMemTable(n int) *memTable {
	t := &memTable{name: "orders", created: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), pagesBy: map[int]int{}}
	for i := range n {
		t.items = append(t.items, map[string]types.AttributeValue{
			"pk":  &types.AttributeValueMemberS{Value: fmt.Sprintf("k%06d", i)},
			"n":   &types.AttributeValueMemberN{Value: fmt.Sprint(i)},
			"pad": &types.AttributeValueMemberS{Value: strings.Repeat("x", i%50)},
		})
	}
	return t
}

func (t *memTable) db() *fakeDB {
	return &fakeDB{describe: t.describeTable, scan: t.scanPage}
}

func (t *memTable) describeTable(_ context.Context, in *dynamodb.DescribeTableInput) (*dynamodb.DescribeTableOutput, error) {
	if aws.ToString(in.TableName) != t.name {
		return nil, &types.ResourceNotFoundException{Message: aws.String("Requested resource not found")}
	}
	return &dynamodb.DescribeTableOutput{Table: &types.TableDescription{
		TableName:            aws.String(t.name),
		TableArn:             aws.String("arn:aws:dynamodb:us-east-1:123456789012:table/" + t.name),
		CreationDateTime:     aws.Time(t.created),
		ItemCount:            aws.Int64(int64(len(t.items))),
		TableSizeBytes:       aws.Int64(int64(len(t.items) * 40)),
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash}},
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: types.ScalarAttributeTypeS}},
		BillingModeSummary:   &types.BillingModeSummary{BillingMode: types.BillingModePayPerRequest},
		StreamSpecification:  &types.StreamSpecification{StreamEnabled: aws.Bool(true), StreamViewType: types.StreamViewTypeNewAndOldImages},
		LatestStreamArn:      aws.String("arn:aws:dynamodb:us-east-1:123456789012:table/" + t.name + "/stream/2026-01-02T03:04:05.000"),
	}}, nil
}

func (t *memTable) scanPage(_ context.Context, in *dynamodb.ScanInput) (*dynamodb.ScanOutput, error) {
	t.mu.Lock()
	call := t.calls
	t.calls++
	fail := t.failCalls
	t.mu.Unlock()
	if fail != nil {
		if err := fail(call, in); err != nil {
			return nil, err
		}
	}
	seg, total := int(aws.ToInt32(in.Segment)), int(aws.ToInt32(in.TotalSegments))
	limit := int(aws.ToInt32(in.Limit))
	if limit == 0 {
		limit = 7
	}
	after := ""
	if in.ExclusiveStartKey != nil {
		after = in.ExclusiveStartKey["pk"].(*types.AttributeValueMemberS).Value
	}
	var page []map[string]types.AttributeValue
	more := false
	for i, it := range t.items {
		if i%total != seg || it["pk"].(*types.AttributeValueMemberS).Value <= after {
			continue
		}
		if len(page) == limit {
			more = true
			break
		}
		page = append(page, it)
	}
	out := &dynamodb.ScanOutput{Items: page, Count: int32(len(page)),
		ConsumedCapacity: &types.ConsumedCapacity{CapacityUnits: aws.Float64(0.5)}}
	if more {
		out.LastEvaluatedKey = map[string]types.AttributeValue{"pk": page[len(page)-1]["pk"]}
	}
	t.mu.Lock()
	t.pagesBy[seg]++
	t.starts = append(t.starts, after)
	t.mu.Unlock()
	return out, nil
}

func (t *memTable) pages() map[int]int {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := map[int]int{}
	for k, v := range t.pagesBy {
		out[k] = v
	}
	return out
}

// expected is the table's content: canonical key JSON -> canonical item JSON.
func (t *memTable) expected(tb testing.TB) map[string]string {
	tb.Helper()
	out := map[string]string{}
	for _, it := range t.items {
		k, err := ddbjson.FromDynamoDB(map[string]types.AttributeValue{"pk": it["pk"]})
		if err != nil {
			tb.Fatal(err)
		}
		s, err := ddbjson.FromDynamoDB(it)
		if err != nil {
			tb.Fatal(err)
		}
		out[canonical(tb, k)] = canonical(tb, s)
	}
	return out
}

func canonical(tb testing.TB, s string) string {
	tb.Helper()
	c, err := ddbjson.Canonical(s)
	if err != nil {
		tb.Fatalf("canonical %s: %v", s, err)
	}
	return c
}

func newDirBucket(t *testing.T) *dir.Bucket {
	t.Helper()
	b, err := dir.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// fastRetries makes page retries immediate and bounded by count, so tests never sleep.
func fastRetries(j *Job, attempts int) {
	j.retries.Attempts = attempts + 1
	j.retries.Sleep = func(ctx context.Context, _ time.Duration) error { return ctx.Err() }
}

func testConfig(table string) Config {
	return Config{Table: table, Segments: 4, Workers: 3, PageSize: 7, Part: writer.PartPolicy{MaxRows: 20, MaxBytes: 1 << 20}, SpoolDir: ""}
}

// readSnapshot reads a complete snapshot back and fails the test on anything it finds
// inconsistent (checksums, row counts, key columns, duplicates, unlisted files).
func readSnapshot(t *testing.T, b storage.Bucket, table, id string) (writer.Manifest, map[string]string) {
	t.Helper()
	s, err := snapshottest.ReadSnapshot(context.Background(), b, table, id)
	if err != nil {
		t.Fatalf("read snapshot: %v", err)
	}
	for _, p := range s.Problems {
		t.Error(p)
	}
	return s.Manifest, s.Items
}

func readManifest(t *testing.T, b storage.Bucket, table, id string) writer.Manifest {
	t.Helper()
	rc, err := b.Open(context.Background(), writer.ManifestKey(table, id))
	if err != nil {
		t.Fatalf("open manifest: %v", err)
	}
	defer rc.Close()
	m, err := decodeManifest(rc)
	if err != nil {
		t.Fatalf("decode manifest: %v", err)
	}
	return m
}

func sameRows(t *testing.T, got, want map[string]string) {
	t.Helper()
	for _, d := range snapshottest.Diff(got, want, 20) {
		t.Error(d)
	}
}

// countingProgress sums what Run reports.
type countingProgress struct {
	mu           sync.Mutex
	items, bytes int64
}

func (c *countingProgress) Add(items, bytes int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.items += items
	c.bytes += bytes
}

var errThrottled = &types.ProvisionedThroughputExceededException{Message: aws.String("slow down")}

func runJob(t *testing.T, db API, b storage.Bucket, cfg Config, tune func(*Job)) (*Job, writer.Manifest, error) {
	t.Helper()
	j, err := Prepare(context.Background(), db, b, cfg)
	if err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	if tune != nil {
		tune(j)
	}
	m, err := j.Run(context.Background(), nil)
	return j, m, err
}

func hasManifest(t *testing.T, b storage.Bucket, table, id string) bool {
	t.Helper()
	rc, err := b.Open(context.Background(), writer.SnapshotDir(table, id)+writer.ManifestName)
	if err == nil {
		rc.Close()
		return true
	}
	if !errors.Is(err, storage.ErrNotFound) {
		t.Fatal(err)
	}
	return false
}
