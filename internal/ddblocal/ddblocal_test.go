package ddblocal

import (
	"context"
	"errors"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	st "github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"
)

func TestMain(m *testing.M) { Main(m) }

func TestStreams_DeliverPutUpdateDeleteInOrderWithImages(t *testing.T) {
	inst := Shared(t)
	db, streams := inst.DynamoDB(), inst.Streams()
	table := CreateTable(t, db, TableOptions{})
	ctx := context.Background()
	key := map[string]types.AttributeValue{"pk": s("user#1"), "sk": s("profile")}

	put(t, db, table, map[string]types.AttributeValue{"pk": s("user#1"), "sk": s("profile"), "name": s("ada")})
	if _, err := db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(table),
		Key:                       key,
		UpdateExpression:          aws.String("SET #n = :n"),
		ExpressionAttributeNames:  map[string]string{"#n": "name"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":n": s("grace")},
	}); err != nil {
		t.Fatalf("update item: %v", err)
	}
	if _, err := db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(table), Key: key}); err != nil {
		t.Fatalf("delete item: %v", err)
	}

	records := readStream(t, streams, StreamARN(t, db, table))
	var got []string
	for _, r := range records {
		got = append(got, string(r.EventName)+":"+imageName(r.Dynamodb.OldImage)+">"+imageName(r.Dynamodb.NewImage))
	}
	want := []string{"INSERT:>ada", "MODIFY:ada>grace", "REMOVE:grace>"}
	if !slices.Equal(got, want) {
		t.Fatalf("records = %q, want %q", got, want)
	}
	for _, r := range records {
		if pk := r.Dynamodb.Keys["pk"]; pk == nil || pk.(*st.AttributeValueMemberS).Value != "user#1" {
			t.Errorf("record %s keys = %v, want pk user#1", aws.ToString(r.EventID), r.Dynamodb.Keys)
		}
	}
}

func TestCreateTable_MakesTheRequestedShape(t *testing.T) {
	db := Shared(t).DynamoDB()
	tests := []struct {
		name       string
		opts       TableOptions
		wantKeys   string
		wantStream string
		wantGSIs   int
		wantLSIs   int
	}{
		{"default", TableOptions{}, "pk:S/HASH sk:S/RANGE", "NEW_AND_OLD_IMAGES", 0, 0},
		{"hash only number key, keys-only stream",
			TableOptions{PartitionKey: Key{"id", types.ScalarAttributeTypeN}, NoSortKey: true, StreamView: types.StreamViewTypeKeysOnly},
			"id:N/HASH", "KEYS_ONLY", 0, 0},
		{"binary keys, no stream",
			TableOptions{PartitionKey: Key{"h", types.ScalarAttributeTypeB}, SortKey: Key{"r", types.ScalarAttributeTypeB}, NoStream: true},
			"h:B/HASH r:B/RANGE", "", 0, 0},
		{"indexes",
			TableOptions{
				GlobalIndexes: []Index{{Name: "by-email", PartitionKey: Key{Name: "email"}}},
				LocalIndexes:  []Index{{Name: "by-date", SortKey: Key{"date", types.ScalarAttributeTypeN}, Projection: types.ProjectionTypeKeysOnly}},
			},
			"pk:S/HASH sk:S/RANGE", "NEW_AND_OLD_IMAGES", 1, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			table := CreateTable(t, db, tt.opts)
			out, err := db.DescribeTable(context.Background(), &dynamodb.DescribeTableInput{TableName: aws.String(table)})
			if err != nil {
				t.Fatalf("describe table: %v", err)
			}
			d := out.Table
			if d.TableStatus != types.TableStatusActive {
				t.Errorf("status = %s, want ACTIVE", d.TableStatus)
			}
			if got := keyString(d.KeySchema, d.AttributeDefinitions); got != tt.wantKeys {
				t.Errorf("keys = %q, want %q", got, tt.wantKeys)
			}
			var stream string
			if d.StreamSpecification != nil && aws.ToBool(d.StreamSpecification.StreamEnabled) {
				stream = string(d.StreamSpecification.StreamViewType)
			}
			if stream != tt.wantStream {
				t.Errorf("stream view = %q, want %q", stream, tt.wantStream)
			}
			if len(d.GlobalSecondaryIndexes) != tt.wantGSIs || len(d.LocalSecondaryIndexes) != tt.wantLSIs {
				t.Errorf("indexes = %d global, %d local; want %d, %d",
					len(d.GlobalSecondaryIndexes), len(d.LocalSecondaryIndexes), tt.wantGSIs, tt.wantLSIs)
			}
			if d.BillingModeSummary == nil || d.BillingModeSummary.BillingMode != types.BillingModePayPerRequest {
				t.Errorf("billing = %+v, want PAY_PER_REQUEST", d.BillingModeSummary)
			}
		})
	}
}

func TestCreateTable_DeletesTheTableOnCleanup(t *testing.T) {
	db := Shared(t).DynamoDB()
	var table string
	t.Run("owner", func(t *testing.T) {
		table = CreateTable(t, db, TableOptions{NamePrefix: "x"})
	})
	_, err := db.DescribeTable(context.Background(), &dynamodb.DescribeTableInput{TableName: aws.String(table)})
	var notFound *types.ResourceNotFoundException
	if !errors.As(err, &notFound) {
		t.Fatalf("describe %s after its test ended: err = %v, want ResourceNotFoundException", table, err)
	}
}

func TestStart_GivesEachCallerAnIndependentInstanceThatStopEnds(t *testing.T) {
	began := time.Now()
	inst, err := Start(context.Background())
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	// Recorded for the docs; not asserted (speed is for benchmarks).
	t.Logf("second instance answered ListTables %s after Start", time.Since(began).Round(time.Millisecond))
	if inst.Endpoint == Shared(t).Endpoint {
		t.Fatalf("second instance shares the endpoint %s", inst.Endpoint)
	}
	table := CreateTable(t, Shared(t).DynamoDB(), TableOptions{})
	_, err = inst.DynamoDB().DescribeTable(context.Background(), &dynamodb.DescribeTableInput{TableName: aws.String(table)})
	var notFound *types.ResourceNotFoundException
	if !errors.As(err, &notFound) {
		t.Errorf("table of the shared instance seen by the second: err = %v", err)
	}

	inst.Stop()
	inst.Stop() // idempotent
	select {
	case <-inst.Exited():
	default:
		t.Fatal("process still running after Stop")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	noRetry := func(o *dynamodb.Options) { o.RetryMaxAttempts = 1 }
	if _, err := inst.DynamoDB().ListTables(ctx, &dynamodb.ListTablesInput{}, noRetry); err == nil {
		t.Fatal("ListTables succeeded after Stop")
	}
}

func TestEnv_PointsTheSDKChainOfASubprocessAtTheInstance(t *testing.T) {
	inst := Shared(t)
	cmd := exec.Command("env")
	cmd.Env = inst.Env()
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("env: %v", err)
	}
	for _, want := range []string{
		"AWS_ENDPOINT_URL_DYNAMODB=" + inst.Endpoint,
		"AWS_ENDPOINT_URL_DYNAMODB_STREAMS=" + inst.Endpoint,
		"AWS_REGION=us-east-1",
		"AWS_ACCESS_KEY_ID=" + AccessKeyID,
		"AWS_SECRET_ACCESS_KEY=" + SecretAccessKey,
	} {
		if !strings.Contains(string(out), want+"\n") {
			t.Errorf("subprocess environment lacks %s", want)
		}
	}
}

func put(t testing.TB, db *dynamodb.Client, table string, item map[string]types.AttributeValue) {
	t.Helper()
	if _, err := db.PutItem(context.Background(), &dynamodb.PutItemInput{TableName: aws.String(table), Item: item}); err != nil {
		t.Fatalf("put item into %s: %v", table, err)
	}
}

func s(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }

func imageName(img map[string]st.AttributeValue) string {
	if v, ok := img["name"].(*st.AttributeValueMemberS); ok {
		return v.Value
	}
	return ""
}

func keyString(schema []types.KeySchemaElement, defs []types.AttributeDefinition) string {
	var parts []string
	for _, k := range schema {
		var typ types.ScalarAttributeType
		for _, d := range defs {
			if aws.ToString(d.AttributeName) == aws.ToString(k.AttributeName) {
				typ = d.AttributeType
			}
		}
		parts = append(parts, aws.ToString(k.AttributeName)+":"+string(typ)+"/"+string(k.KeyType))
	}
	return strings.Join(parts, " ")
}

// readStream reads every shard of a stream from TRIM_HORIZON until a GetRecords call on it
// returns nothing, the way a capture catches up, and returns the records in shard order.
func readStream(t testing.TB, streams *dynamodbstreams.Client, streamARN string) []st.Record {
	t.Helper()
	ctx := context.Background()
	desc, err := streams.DescribeStream(ctx, &dynamodbstreams.DescribeStreamInput{StreamArn: aws.String(streamARN)})
	if err != nil {
		t.Fatalf("describe stream %s: %v", streamARN, err)
	}
	var records []st.Record
	for _, shard := range desc.StreamDescription.Shards {
		it, err := streams.GetShardIterator(ctx, &dynamodbstreams.GetShardIteratorInput{
			StreamArn:         aws.String(streamARN),
			ShardId:           shard.ShardId,
			ShardIteratorType: st.ShardIteratorTypeTrimHorizon,
		})
		if err != nil {
			t.Fatalf("get shard iterator %s: %v", aws.ToString(shard.ShardId), err)
		}
		iter := it.ShardIterator
		for iter != nil {
			out, err := streams.GetRecords(ctx, &dynamodbstreams.GetRecordsInput{ShardIterator: iter})
			if err != nil {
				t.Fatalf("get records %s: %v", aws.ToString(shard.ShardId), err)
			}
			records = append(records, out.Records...)
			if len(out.Records) == 0 {
				break
			}
			iter = out.NextShardIterator
		}
	}
	return records
}
