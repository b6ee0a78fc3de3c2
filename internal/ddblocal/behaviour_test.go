package ddblocal

// These tests pin down how DynamoDB Local 1.25.1 (amplify-dynamodb-simulator 2.9.30) behaves
// where the capture pipeline depends on it, so a change of version that breaks an assumption
// fails here first. Where it differs from the real service the test says so.

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	st "github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"
	"github.com/aws/smithy-go"
)

var (
	// Same shape as the real service: shardId-<20 digits: creation ms>-<8 hex>.
	shardIDPattern = regexp.MustCompile(`^shardId-[0-9]{20}-[0-9a-f]{8}$`)
	// The real service's are 21 to 40 digits; DynamoDB Local's are a counter padded to 21.
	sequencePattern = regexp.MustCompile(`^[0-9]{21}$`)
)

func TestDynamoDBLocal_NewStreamHasOneOpenShard(t *testing.T) {
	inst := Shared(t)
	db := inst.DynamoDB()
	arn := StreamARN(t, db, CreateTable(t, db, TableOptions{}))
	desc := describeStream(t, inst.Streams(), arn)
	if desc.StreamStatus != st.StreamStatusEnabled {
		t.Errorf("stream status = %s, want ENABLED", desc.StreamStatus)
	}
	if len(desc.Shards) != 1 {
		t.Fatalf("new stream has %d shards, want 1", len(desc.Shards))
	}
	sh := desc.Shards[0]
	if !shardIDPattern.MatchString(aws.ToString(sh.ShardId)) {
		t.Errorf("shard id %q does not match %s", aws.ToString(sh.ShardId), shardIDPattern)
	}
	if sh.ParentShardId != nil {
		t.Errorf("parent shard = %q, want none", *sh.ParentShardId)
	}
	if !sequencePattern.MatchString(aws.ToString(sh.SequenceNumberRange.StartingSequenceNumber)) {
		t.Errorf("starting sequence number %q does not match %s", aws.ToString(sh.SequenceNumberRange.StartingSequenceNumber), sequencePattern)
	}
	if sh.SequenceNumberRange.EndingSequenceNumber != nil {
		t.Errorf("open shard has ending sequence number %q", *sh.SequenceNumberRange.EndingSequenceNumber)
	}
	if desc.LastEvaluatedShardId != nil {
		t.Errorf("last evaluated shard id = %q, want none", *desc.LastEvaluatedShardId)
	}
}

func TestDynamoDBLocal_SequenceNumbersAreIncreasing21DigitStrings(t *testing.T) {
	inst := Shared(t)
	db := inst.DynamoDB()
	table := CreateTable(t, db, TableOptions{})
	for i := range 5 {
		put(t, db, table, map[string]types.AttributeValue{"pk": s(fmt.Sprint("k", i)), "sk": s("x")})
	}
	records := readStream(t, inst.Streams(), StreamARN(t, db, table))
	if len(records) != 5 {
		t.Fatalf("got %d records, want 5", len(records))
	}
	prev := ""
	for _, r := range records {
		seq := aws.ToString(r.Dynamodb.SequenceNumber)
		if !sequencePattern.MatchString(seq) {
			t.Errorf("sequence number %q does not match %s", seq, sequencePattern)
		}
		if seq <= prev { // same length, so text order is numeric order
			t.Errorf("sequence number %s does not follow %s", seq, prev)
		}
		prev = seq
	}
}

func TestDynamoDBLocal_SequenceNumbersComeFromOneCounterForAllStreams(t *testing.T) {
	inst := Shared(t)
	db := inst.DynamoDB()
	a := CreateTable(t, db, TableOptions{})
	b := CreateTable(t, db, TableOptions{})
	put(t, db, a, map[string]types.AttributeValue{"pk": s("1"), "sk": s("x")})
	put(t, db, b, map[string]types.AttributeValue{"pk": s("1"), "sk": s("x")})
	put(t, db, a, map[string]types.AttributeValue{"pk": s("2"), "sk": s("x")})
	records := readStream(t, inst.Streams(), StreamARN(t, db, a))
	if len(records) != 2 {
		t.Fatalf("got %d records, want 2", len(records))
	}
	// So a gap between consecutive sequence numbers of a shard never means a lost record.
	first, _ := strconv.ParseInt(aws.ToString(records[0].Dynamodb.SequenceNumber), 10, 64)
	second, _ := strconv.ParseInt(aws.ToString(records[1].Dynamodb.SequenceNumber), 10, 64)
	if second-first < 2 {
		t.Errorf("sequence numbers %d, %d around a write to another table: want a gap", first, second)
	}
}

func TestDynamoDBLocal_GetRecordsAtTheTipOfAnOpenShardReturnsNoRecordsAndANextIterator(t *testing.T) {
	inst := Shared(t)
	db, streams := inst.DynamoDB(), inst.Streams()
	table := CreateTable(t, db, TableOptions{})
	arn := StreamARN(t, db, table)
	iter := trimHorizon(t, streams, arn)

	out := getRecords(t, streams, iter)
	if len(out.Records) != 0 || out.NextShardIterator == nil {
		t.Fatalf("empty open shard: %d records, next iterator %v; want 0 and an iterator", len(out.Records), out.NextShardIterator != nil)
	}
	// The iterator handed back at the tip sees records written after it was issued.
	put(t, db, table, map[string]types.AttributeValue{"pk": s("a"), "sk": s("b")})
	out = getRecords(t, streams, out.NextShardIterator)
	if len(out.Records) != 1 || out.NextShardIterator == nil {
		t.Fatalf("after one write: %d records, next iterator %v; want 1 and an iterator", len(out.Records), out.NextShardIterator != nil)
	}
}

func TestDynamoDBLocal_ShardIteratorsCanBeReused(t *testing.T) {
	inst := Shared(t)
	db, streams := inst.DynamoDB(), inst.Streams()
	table := CreateTable(t, db, TableOptions{})
	put(t, db, table, map[string]types.AttributeValue{"pk": s("a"), "sk": s("b")})
	iter := trimHorizon(t, streams, StreamARN(t, db, table))
	first, second := getRecords(t, streams, iter), getRecords(t, streams, iter)
	if len(first.Records) != 1 || len(second.Records) != 1 ||
		aws.ToString(first.Records[0].EventID) != aws.ToString(second.Records[0].EventID) {
		t.Fatalf("reading one iterator twice gave %d then %d records, want the same one record", len(first.Records), len(second.Records))
	}
}

func TestDynamoDBLocal_StampsRecordsToTheMinute(t *testing.T) {
	inst := Shared(t)
	db := inst.DynamoDB()
	table := CreateTable(t, db, TableOptions{})
	before := time.Now().UTC().Truncate(time.Minute)
	put(t, db, table, map[string]types.AttributeValue{"pk": s("a"), "sk": s("b")})
	after := time.Now().UTC()
	records := readStream(t, inst.Streams(), StreamARN(t, db, table))
	if len(records) != 1 {
		t.Fatalf("got %d records, want 1", len(records))
	}
	stamp := aws.ToTime(records[0].Dynamodb.ApproximateCreationDateTime)
	if !stamp.Equal(stamp.Truncate(time.Minute)) {
		t.Errorf("ApproximateCreationDateTime %s is not a whole minute", stamp.Format(time.RFC3339Nano))
	}
	if stamp.Before(before) || stamp.After(after) {
		t.Errorf("ApproximateCreationDateTime %s outside [%s, %s]", stamp, before, after)
	}
}

func TestDynamoDBLocal_DisablingTheStreamClosesItsShard(t *testing.T) {
	inst := Shared(t)
	db, streams := inst.DynamoDB(), inst.Streams()
	table := CreateTable(t, db, TableOptions{})
	arn := StreamARN(t, db, table)
	put(t, db, table, map[string]types.AttributeValue{"pk": s("a"), "sk": s("b")})
	last := readStream(t, streams, arn)[0].Dynamodb.SequenceNumber
	iter := trimHorizon(t, streams, arn)

	if _, err := db.UpdateTable(context.Background(), &dynamodb.UpdateTableInput{
		TableName:           aws.String(table),
		StreamSpecification: &types.StreamSpecification{StreamEnabled: aws.Bool(false)},
	}); err != nil {
		t.Fatalf("disable stream: %v", err)
	}

	desc := describeStream(t, streams, arn)
	if desc.StreamStatus != st.StreamStatusDisabled {
		t.Errorf("stream status = %s, want DISABLED", desc.StreamStatus)
	}
	if got := desc.Shards[0].SequenceNumberRange.EndingSequenceNumber; aws.ToString(got) != aws.ToString(last) {
		t.Errorf("ending sequence number = %v, want the last record's %s", aws.ToString(got), aws.ToString(last))
	}
	// The page that reaches the end of a closed shard carries its records and no next
	// iterator: a reader must store them before treating the shard as done.
	out := getRecords(t, streams, iter)
	if len(out.Records) != 1 || out.NextShardIterator != nil {
		t.Errorf("closed shard from TRIM_HORIZON: %d records, next iterator %v; want 1 and none", len(out.Records), out.NextShardIterator != nil)
	}
	tbl := describeTable(t, db, table)
	if tbl.StreamSpecification != nil {
		t.Errorf("stream specification after disable = %+v, want none", tbl.StreamSpecification)
	}
	// Unlike "no stream": the disabled stream's ARN stays the latest until a new one is enabled.
	if aws.ToString(tbl.LatestStreamArn) != arn {
		t.Errorf("latest stream ARN after disable = %q, want %q", aws.ToString(tbl.LatestStreamArn), arn)
	}
}

func TestDynamoDBLocal_TableWithoutStreamHasNoStreamARN(t *testing.T) {
	db := Shared(t).DynamoDB()
	tbl := describeTable(t, db, CreateTable(t, db, TableOptions{NoStream: true}))
	if tbl.LatestStreamArn != nil || tbl.LatestStreamLabel != nil || tbl.StreamSpecification != nil {
		t.Errorf("table without stream: LatestStreamArn %v, LatestStreamLabel %v, StreamSpecification %+v; want all nil",
			aws.ToString(tbl.LatestStreamArn), aws.ToString(tbl.LatestStreamLabel), tbl.StreamSpecification)
	}
}

func TestDynamoDBLocal_ErrorCodesForBadRequests(t *testing.T) {
	inst := Shared(t)
	db, streams := inst.DynamoDB(), inst.Streams()
	ctx := context.Background()
	table := CreateTable(t, db, TableOptions{})
	arn := StreamARN(t, db, table)
	shardID := describeStream(t, streams, arn).Shards[0].ShardId

	_, err := db.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String("no-such-table")})
	var tableNotFound *types.ResourceNotFoundException
	if !errors.As(err, &tableNotFound) || tableNotFound.ErrorMessage() != "Cannot do operations on a non-existent table" {
		t.Errorf("describe missing table: %v", err)
	}

	_, err = streams.DescribeStream(ctx, &dynamodbstreams.DescribeStreamInput{StreamArn: aws.String(arn + "x")})
	var streamNotFound *st.ResourceNotFoundException
	if !errors.As(err, &streamNotFound) {
		t.Errorf("describe missing stream: %v, want ResourceNotFoundException", err)
	}

	_, err = streams.GetShardIterator(ctx, &dynamodbstreams.GetShardIteratorInput{
		StreamArn: aws.String(arn), ShardId: aws.String("shardId-00000000000000000000-00000000"),
		ShardIteratorType: st.ShardIteratorTypeTrimHorizon,
	})
	if !errors.As(err, &streamNotFound) || streamNotFound.ErrorMessage() != "Shard does not exist" {
		t.Errorf("iterator for missing shard: %v, want ResourceNotFoundException: Shard does not exist", err)
	}

	_, err = streams.GetRecords(ctx, &dynamodbstreams.GetRecordsInput{ShardIterator: aws.String("garbage")})
	if code := apiCode(err); code != "ValidationException" {
		t.Errorf("get records with a garbage iterator: %v, want ValidationException", err)
	}

	_, err = streams.GetRecords(ctx, &dynamodbstreams.GetRecordsInput{ShardIterator: trimHorizon(t, streams, arn), Limit: aws.Int32(1001)})
	if code := apiCode(err); code != "ValidationException" {
		t.Errorf("get records with limit 1001: %v, want ValidationException (1000 is the most)", err)
	}

	noRetry := func(o *dynamodbstreams.Options) { o.RetryMaxAttempts = 1 }
	tests := []struct {
		seq, wantCode string
	}{
		// Shorter than 21 or longer than 40 characters: the service's own validation.
		{"1", "ValidationException"},
		{"00000000000000000000000000000000000000001", "ValidationException"},
		// Beyond a Java long: DynamoDB Local fails with HTTP 500, which the SDK retries.
		{"999999999999999999999", "InternalFailure"},
		// Well-formed but past the tip, or of another shard: accepted, not checked.
		{"000000000000000009999", ""},
	}
	for _, tt := range tests {
		_, err := streams.GetShardIterator(ctx, &dynamodbstreams.GetShardIteratorInput{
			StreamArn: aws.String(arn), ShardId: shardID,
			ShardIteratorType: st.ShardIteratorTypeAfterSequenceNumber, SequenceNumber: aws.String(tt.seq),
		}, noRetry)
		if code := apiCode(err); code != tt.wantCode {
			t.Errorf("AFTER_SEQUENCE_NUMBER %s: error code %q (%v), want %q", tt.seq, code, err, tt.wantCode)
		}
	}
}

func apiCode(err error) string {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		return apiErr.ErrorCode()
	}
	if err != nil {
		return err.Error()
	}
	return ""
}

func describeTable(t testing.TB, db *dynamodb.Client, table string) *types.TableDescription {
	t.Helper()
	out, err := db.DescribeTable(context.Background(), &dynamodb.DescribeTableInput{TableName: aws.String(table)})
	if err != nil {
		t.Fatalf("describe table %s: %v", table, err)
	}
	return out.Table
}

func describeStream(t testing.TB, streams *dynamodbstreams.Client, arn string) *st.StreamDescription {
	t.Helper()
	out, err := streams.DescribeStream(context.Background(), &dynamodbstreams.DescribeStreamInput{StreamArn: aws.String(arn)})
	if err != nil {
		t.Fatalf("describe stream %s: %v", arn, err)
	}
	return out.StreamDescription
}

func trimHorizon(t testing.TB, streams *dynamodbstreams.Client, arn string) *string {
	t.Helper()
	desc := describeStream(t, streams, arn)
	out, err := streams.GetShardIterator(context.Background(), &dynamodbstreams.GetShardIteratorInput{
		StreamArn: aws.String(arn), ShardId: desc.Shards[0].ShardId, ShardIteratorType: st.ShardIteratorTypeTrimHorizon,
	})
	if err != nil {
		t.Fatalf("get shard iterator: %v", err)
	}
	return out.ShardIterator
}

func getRecords(t testing.TB, streams *dynamodbstreams.Client, iter *string) *dynamodbstreams.GetRecordsOutput {
	t.Helper()
	out, err := streams.GetRecords(context.Background(), &dynamodbstreams.GetRecordsInput{ShardIterator: iter})
	if err != nil {
		t.Fatalf("get records: %v", err)
	}
	return out
}
