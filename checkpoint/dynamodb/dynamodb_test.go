package dynamodb

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/ddbtape/ddbtape/checkpoint"
	"github.com/ddbtape/ddbtape/checkpoint/checkpointtest"
	"github.com/ddbtape/ddbtape/internal/ddblocal"
)

func TestMain(m *testing.M) { ddblocal.Main(m) }

var tableSeq atomic.Int64

// newTable creates a fresh checkpoint table in the shared DynamoDB Local.
func newTable(t *testing.T, api API) string {
	t.Helper()
	name := fmt.Sprintf("ckpt-%d-%d", time.Now().UnixNano()%1e9, tableSeq.Add(1))
	s, err := New(api, name, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.EnsureTable(t.Context(), true, time.Minute); err != nil {
		t.Fatalf("EnsureTable(create): %v", err)
	}
	return name
}

func newStore(t *testing.T, api API, table, app string) *Store {
	t.Helper()
	s, err := New(api, table, app)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestStore_Suite(t *testing.T) {
	db := ddblocal.Shared(t).DynamoDB()
	table := newTable(t, db)
	var n atomic.Int64
	// Every store gets its own application name in one table: the suite's "nothing
	// recorded" start then also proves that app names keep pipelines apart.
	checkpointtest.Run(t, func(t *testing.T) checkpoint.Store {
		return newStore(t, db, table, fmt.Sprintf("suite-%d", n.Add(1)))
	})
}

func TestStore_AppNamesKeepPipelinesApart(t *testing.T) {
	db := ddblocal.Shared(t).DynamoDB()
	table := newTable(t, db)
	a, b := newStore(t, db, table, "team-a"), newStore(t, db, table, "team-b")
	ctx := t.Context()
	if err := a.Save(ctx, "orders", checkpoint.Position{ShardID: "s1", SequenceNumber: "500"}); err != nil {
		t.Fatal(err)
	}
	// team-b may checkpoint the same table and shard behind team-a: it is another pipeline.
	if err := b.Save(ctx, "orders", checkpoint.Position{ShardID: "s1", SequenceNumber: "7"}); err != nil {
		t.Fatalf("team-b's save was judged against team-a's checkpoint: %v", err)
	}
	got, err := a.Load(ctx, "orders")
	if err != nil {
		t.Fatal(err)
	}
	if got.Shards["s1"].SequenceNumber != "500" {
		t.Fatalf("team-a's shard = %+v, want 500", got.Shards["s1"])
	}
}

func TestStore_SaveBackwardsIsErrBackwards(t *testing.T) {
	db := ddblocal.Shared(t).DynamoDB()
	s := newStore(t, db, newTable(t, db), "")
	ctx := t.Context()
	if err := s.Save(ctx, "orders", checkpoint.Position{ShardID: "a", SequenceNumber: "49668042188516443710245236567389291537", Finished: true}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []checkpoint.Position{
		{ShardID: "a", SequenceNumber: "9966804218851644371024523656738929153", Finished: true}, // fewer digits
		{ShardID: "a", SequenceNumber: "49668042188516443710245236567389291537"},                // un-finish
	} {
		if err := s.Save(ctx, "orders", p); !errors.Is(err, ErrBackwards) {
			t.Errorf("Save(%+v) = %v, want ErrBackwards", p, err)
		}
	}
}

func TestStore_RejectsWhatItCannotOrder(t *testing.T) {
	db := ddblocal.Shared(t).DynamoDB()
	s := newStore(t, db, newTable(t, db), "")
	for _, p := range []checkpoint.Position{{ShardID: ""}, {ShardID: "a", SequenceNumber: "1e9"}, {ShardID: "a", SequenceNumber: "-1"}} {
		if err := s.Save(t.Context(), "orders", p); err == nil {
			t.Errorf("Save(%+v) succeeded", p)
		}
	}
	if err := s.AddGap(t.Context(), "orders", checkpoint.Gap{Reason: "no shard"}); err == nil {
		t.Error("AddGap without a shard succeeded")
	}
	if _, err := New(db, "t", "bad name#"); err == nil {
		t.Error("New accepted an application name with '#' and a space")
	}
}

func TestStore_SaveAsHolderNeedsTheLease(t *testing.T) {
	db := ddblocal.Shared(t).DynamoDB()
	table := newTable(t, db)
	s := newStore(t, db, table, "")
	ctx := t.Context()
	setLease(t, db, table, "orders", "a", "worker-1", 4)

	if err := s.saveAsHolder(ctx, "orders", checkpoint.Position{ShardID: "a", SequenceNumber: "10"}, leaseHolder{"worker-1", 4}); err != nil {
		t.Fatalf("holder's save: %v", err)
	}
	for _, h := range []leaseHolder{{"worker-2", 4}, {"worker-1", 3}, {"worker-1", 5}} {
		err := s.saveAsHolder(ctx, "orders", checkpoint.Position{ShardID: "a", SequenceNumber: "20"}, h)
		if !errors.Is(err, errNotHolder) || !errors.Is(err, checkpoint.ErrBackwards) {
			t.Errorf("saveAsHolder as %+v = %v, want errNotHolder, which is also checkpoint.ErrBackwards (no retry helps)", h, err)
		}
	}
	// The holder is still judged on the sequence: a move back is ErrBackwards.
	if err := s.saveAsHolder(ctx, "orders", checkpoint.Position{ShardID: "a", SequenceNumber: "9"}, leaseHolder{"worker-1", 4}); !errors.Is(err, ErrBackwards) {
		t.Errorf("holder's move back = %v, want ErrBackwards", err)
	}
	// Finishing ends the lease: no owner, counter moved on so watchers see the change.
	if err := s.saveAsHolder(ctx, "orders", checkpoint.Position{ShardID: "a", SequenceNumber: "30", Finished: true}, leaseHolder{"worker-1", 4}); err != nil {
		t.Fatalf("holder's finishing save: %v", err)
	}
	item := getItem(t, db, table, "orders", "a")
	if owner := attrString(item, attrLeaseOwner); owner != "" {
		t.Errorf("finished shard still owned by %q", owner)
	}
	if c, _ := attrInt(item, attrLeaseCounter); c != 5 {
		t.Errorf("lease counter after finishing = %d, want 5", c)
	}
	got, err := s.Load(ctx, "orders")
	if err != nil {
		t.Fatal(err)
	}
	if p := got.Shards["a"]; p.SequenceNumber != "30" || !p.Finished {
		t.Errorf("shard a = %+v, want finished at 30", p)
	}
}

func TestStore_LoadLeavesOutShardsNeverCheckpointed(t *testing.T) {
	db := ddblocal.Shared(t).DynamoDB()
	table := newTable(t, db)
	s := newStore(t, db, table, "")
	setLease(t, db, table, "orders", "tracked-only", "worker-1", 1)
	got, err := s.Load(t.Context(), "orders")
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Shards) != 0 {
		t.Fatalf("Load returned %+v for a shard that only has a lease", got.Shards)
	}
	// A plain Save keeps the lease attributes.
	if err := s.Save(t.Context(), "orders", checkpoint.Position{ShardID: "tracked-only", SequenceNumber: "5"}); err != nil {
		t.Fatal(err)
	}
	if owner := attrString(getItem(t, db, table, "orders", "tracked-only"), attrLeaseOwner); owner != "worker-1" {
		t.Fatalf("Save dropped the lease owner: %q", owner)
	}
}

// smallPages makes every Query return at most two items, so Load must page.
type smallPages struct{ API }

func (p smallPages) Query(ctx context.Context, in *ddb.QueryInput, optFns ...func(*ddb.Options)) (*ddb.QueryOutput, error) {
	in.Limit = aws.Int32(2)
	return p.API.Query(ctx, in, optFns...)
}

func TestStore_LoadPagesThroughThePartition(t *testing.T) {
	db := ddblocal.Shared(t).DynamoDB()
	table := newTable(t, db)
	s := newStore(t, smallPages{db}, table, "")
	ctx := t.Context()
	for i := range 7 {
		if err := s.Save(ctx, "orders", checkpoint.Position{ShardID: fmt.Sprintf("s%d", i), SequenceNumber: fmt.Sprint(i + 1)}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 3 {
		if err := s.AddGap(ctx, "orders", checkpoint.Gap{ShardID: "s0", DetectedAt: time.Unix(int64(1000+i), 0), Reason: "trimmed"}); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.Load(ctx, "orders")
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Shards) != 7 || len(got.Gaps) != 3 {
		t.Fatalf("Load over pages of two: %d shards and %d gaps, want 7 and 3", len(got.Shards), len(got.Gaps))
	}
}

func TestStore_ACorruptItemIsErrCorruptNamingIt(t *testing.T) {
	db := ddblocal.Shared(t).DynamoDB()
	table := newTable(t, db)
	s := newStore(t, db, table, "")
	_, err := db.PutItem(t.Context(), &ddb.PutItemInput{TableName: aws.String(table), Item: map[string]types.AttributeValue{
		attrPK: str(partitionKey(DefaultApp, "orders")), attrSK: str(shardSortKey("a")),
		attrShardID: str("a"), attrCheckpointed: boolean(true), attrSequenceNumber: str("12x"),
	}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Load(t.Context(), "orders")
	if !errors.Is(err, checkpoint.ErrCorrupt) {
		t.Fatalf("Load = %v, want ErrCorrupt", err)
	}
	for _, want := range []string{table, `sk "shard#a"`, "not a decimal number", "delete the item"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %q", err, want)
		}
	}
}

func TestStore_EnsureTable(t *testing.T) {
	db := ddblocal.Shared(t).DynamoDB()
	ctx := t.Context()
	missing := newStore(t, db, fmt.Sprintf("ckpt-missing-%d", time.Now().UnixNano()), "")
	if err := missing.EnsureTable(ctx, false, time.Minute); !errors.Is(err, ErrNoTable) {
		t.Fatalf("EnsureTable of a missing table without create = %v, want ErrNoTable", err)
	}
	if _, err := missing.Load(ctx, "orders"); !errors.Is(err, ErrNoTable) {
		t.Fatalf("Load from a missing table = %v, want ErrNoTable", err)
	}
	if err := missing.EnsureTable(ctx, true, time.Minute); err != nil {
		t.Fatalf("EnsureTable(create): %v", err)
	}
	if err := missing.EnsureTable(ctx, true, time.Minute); err != nil {
		t.Fatalf("EnsureTable(create) of an existing table: %v", err)
	}
	out, err := db.DescribeTable(ctx, &ddb.DescribeTableInput{TableName: aws.String(missing.TableName())})
	if err != nil {
		t.Fatal(err)
	}
	if out.Table.TableStatus != types.TableStatusActive || out.Table.BillingModeSummary == nil || out.Table.BillingModeSummary.BillingMode != types.BillingModePayPerRequest {
		t.Errorf("created table: status %s, billing %+v; want ACTIVE and on-demand", out.Table.TableStatus, out.Table.BillingModeSummary)
	}

	wrong := fmt.Sprintf("ckpt-wrong-%d", time.Now().UnixNano())
	_, err = db.CreateTable(ctx, &ddb.CreateTableInput{
		TableName: aws.String(wrong), BillingMode: types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("id"), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("id"), KeyType: types.KeyTypeHash}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := newStore(t, db, wrong, "").EnsureTable(ctx, true, time.Minute); err == nil || !strings.Contains(err.Error(), "not a ddbtape checkpoint table") {
		t.Fatalf("EnsureTable of a table with another key = %v, want a refusal", err)
	}
}

func TestSeqKey_OrdersAsNumbers(t *testing.T) {
	tests := []struct {
		a, b string
		want int // sign of compare(a, b)
	}{
		{"", "0", -1},
		{"0", "1", -1},
		{"99", "100", -1},
		{"100", "0100", 0},
		{"49668042188516443710245236567389291537", "9966804218851644371024523656738929153", 1},
		{"300000000000000000001", "300000000000000000002", -1},
	}
	for _, tt := range tests {
		ka, err := seqKey(tt.a)
		if err != nil {
			t.Fatal(err)
		}
		kb, err := seqKey(tt.b)
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Compare(ka, kb); got != tt.want {
			t.Errorf("compare(seqKey(%q)=%q, seqKey(%q)=%q) = %d, want %d", tt.a, ka, tt.b, kb, got, tt.want)
		}
	}
}

// setLease writes lease attributes on a shard item, as Leases does.
func setLease(t *testing.T, db *ddb.Client, table, source, shard, owner string, counter int64) {
	t.Helper()
	_, err := db.UpdateItem(t.Context(), &ddb.UpdateItemInput{
		TableName:                 aws.String(table),
		Key:                       shardKey(DefaultApp, source, shard),
		UpdateExpression:          aws.String("SET #o = :o, #c = :c, #s = :s"),
		ExpressionAttributeNames:  map[string]string{"#o": attrLeaseOwner, "#c": attrLeaseCounter, "#s": attrShardID},
		ExpressionAttributeValues: map[string]types.AttributeValue{":o": str(owner), ":c": num(counter), ":s": str(shard)},
	})
	if err != nil {
		t.Fatal(err)
	}
}

func getItem(t *testing.T, db *ddb.Client, table, source, shard string) map[string]types.AttributeValue {
	t.Helper()
	out, err := db.GetItem(t.Context(), &ddb.GetItemInput{TableName: aws.String(table), Key: shardKey(DefaultApp, source, shard), ConsistentRead: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	return out.Item
}
