package fakestreams

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

func start(t *testing.T, opts Options) (*Server, *dynamodbstreams.Client) {
	t.Helper()
	s := NewServer(opts)
	t.Cleanup(s.Close)
	return s, dynamodbstreams.NewFromConfig(s.Config())
}

func mustStream(t *testing.T, s *Server, name, view string) string {
	t.Helper()
	arn, err := s.CreateTable(TableSpec{Name: name, SortKey: "sk", StreamViewType: view})
	if err != nil {
		t.Fatal(err)
	}
	return arn
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func iterator(t *testing.T, c *dynamodbstreams.Client, arn, shard string, typ types.ShardIteratorType, seq string) *string {
	t.Helper()
	in := &dynamodbstreams.GetShardIteratorInput{StreamArn: &arn, ShardId: &shard, ShardIteratorType: typ}
	if seq != "" {
		in.SequenceNumber = &seq
	}
	out, err := c.GetShardIterator(context.Background(), in)
	if err != nil {
		t.Fatalf("GetShardIterator %s %s: %v", typ, seq, err)
	}
	return out.ShardIterator
}

func TestGetRecords_DecodesEveryRecordFieldThroughTheSDK(t *testing.T) {
	stamp := time.Date(2024, 5, 1, 10, 42, 17, 900_000_000, time.UTC)
	s, c := start(t, Options{Region: "eu-west-1"})
	arn := mustStream(t, s, "orders", "NEW_AND_OLD_IMAGES")
	must(t, s.AddShard(arn, "s1", ""))
	rec := Record{
		EventName: "REMOVE",
		Keys:      map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: "a"}, "sk": &types.AttributeValueMemberS{Value: "1"}},
		OldImage: map[string]types.AttributeValue{
			"pk":  &types.AttributeValueMemberS{Value: "a"},
			"n":   &types.AttributeValueMemberN{Value: "12345678901234567890123456789012345678"},
			"b":   &types.AttributeValueMemberB{Value: []byte{0, 1, 255}},
			"ss":  &types.AttributeValueMemberSS{Value: []string{"x", "y"}},
			"ns":  &types.AttributeValueMemberNS{Value: []string{"1", "2.5"}},
			"bs":  &types.AttributeValueMemberBS{Value: [][]byte{{1}, {2}}},
			"l":   &types.AttributeValueMemberL{Value: []types.AttributeValue{&types.AttributeValueMemberBOOL{Value: true}, &types.AttributeValueMemberNULL{Value: true}}},
			"m":   &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{"in": &types.AttributeValueMemberS{Value: "side"}}},
			"off": &types.AttributeValueMemberBOOL{Value: false},
		},
		CreatedAt:    stamp,
		UserIdentity: &types.Identity{PrincipalId: aws.String("dynamodb.amazonaws.com"), Type: aws.String("Service")},
	}
	seqs, err := s.AppendRecords("s1", rec)
	must(t, err)
	if len(seqs[0]) != 21 {
		t.Errorf("sequence number %q: want 21 digits like DynamoDB's", seqs[0])
	}
	out, err := c.GetRecords(context.Background(), &dynamodbstreams.GetRecordsInput{ShardIterator: iterator(t, c, arn, "s1", types.ShardIteratorTypeTrimHorizon, "")})
	must(t, err)
	if len(out.Records) != 1 || out.NextShardIterator == nil {
		t.Fatalf("got %d records, next %v; want 1 and an open shard's next iterator", len(out.Records), out.NextShardIterator)
	}
	r := out.Records[0]
	d := r.Dynamodb
	if r.EventName != types.OperationTypeRemove || aws.ToString(r.EventSource) != "aws:dynamodb" || aws.ToString(r.AwsRegion) != "eu-west-1" ||
		aws.ToString(r.EventID) == "" || aws.ToString(r.EventVersion) == "" {
		t.Errorf("envelope = %+v", r)
	}
	if r.UserIdentity == nil || aws.ToString(r.UserIdentity.PrincipalId) != "dynamodb.amazonaws.com" || aws.ToString(r.UserIdentity.Type) != "Service" {
		t.Errorf("userIdentity = %+v", r.UserIdentity)
	}
	if !aws.ToTime(d.ApproximateCreationDateTime).Equal(stamp.Truncate(time.Second)) {
		t.Errorf("ApproximateCreationDateTime = %v, want %v (whole seconds)", d.ApproximateCreationDateTime, stamp.Truncate(time.Second))
	}
	if aws.ToString(d.SequenceNumber) != seqs[0] || aws.ToInt64(d.SizeBytes) <= 0 || d.StreamViewType != types.StreamViewTypeNewAndOldImages {
		t.Errorf("stream record = seq %v size %v view %v", aws.ToString(d.SequenceNumber), aws.ToInt64(d.SizeBytes), d.StreamViewType)
	}
	// The SDK decoded every attribute type back to what was appended.
	if got, want := attrJSON(t, d.OldImage), attrJSON(t, rec.OldImage); got != want {
		t.Errorf("OldImage round trip\n got %s\nwant %s", got, want)
	}
	if got, want := attrJSON(t, d.Keys), attrJSON(t, rec.Keys); got != want {
		t.Errorf("Keys round trip: got %s want %s", got, want)
	}
	if d.NewImage != nil {
		t.Errorf("NewImage = %v, want none (REMOVE had none)", d.NewImage)
	}
}

func attrJSON(t *testing.T, m map[string]types.AttributeValue) string {
	t.Helper()
	b, err := json.Marshal(attributeMap(m))
	must(t, err)
	return string(b)
}

func TestGetRecords_KeepsOnlyTheImagesOfTheViewType(t *testing.T) {
	for view, want := range map[string][2]bool{
		"KEYS_ONLY": {false, false}, "NEW_IMAGE": {true, false}, "OLD_IMAGE": {false, true}, "NEW_AND_OLD_IMAGES": {true, true},
	} {
		t.Run(view, func(t *testing.T) {
			s, c := start(t, Options{})
			arn := mustStream(t, s, "t_"+view, view)
			must(t, s.AddShard(arn, "s1", ""))
			img := map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: "a"}}
			_, err := s.AppendRecords("s1", Record{EventName: "MODIFY", Keys: img, NewImage: img, OldImage: img})
			must(t, err)
			out, err := c.GetRecords(context.Background(), &dynamodbstreams.GetRecordsInput{ShardIterator: iterator(t, c, arn, "s1", types.ShardIteratorTypeTrimHorizon, "")})
			must(t, err)
			d := out.Records[0].Dynamodb
			if (d.NewImage != nil) != want[0] || (d.OldImage != nil) != want[1] || len(d.Keys) != 1 || string(d.StreamViewType) != view {
				t.Errorf("new %v old %v keys %v view %v", d.NewImage != nil, d.OldImage != nil, d.Keys, d.StreamViewType)
			}
		})
	}
}

func TestGetRecords_HonoursLimitAndEndsAClosedShard(t *testing.T) {
	s, c := start(t, Options{})
	arn := mustStream(t, s, "orders", "NEW_IMAGE")
	must(t, s.AddShard(arn, "s1", ""))
	var want []string
	for range 7 {
		seq, err := s.AppendRecords("s1", Record{Keys: map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: "a"}}})
		must(t, err)
		want = append(want, seq...)
	}
	must(t, s.CloseShard("s1"))
	it := iterator(t, c, arn, "s1", types.ShardIteratorTypeAtSequenceNumber, want[1])
	var got []string
	var pages []int
	for it != nil {
		out, err := c.GetRecords(context.Background(), &dynamodbstreams.GetRecordsInput{ShardIterator: it, Limit: aws.Int32(2)})
		must(t, err)
		pages = append(pages, len(out.Records))
		for _, r := range out.Records {
			got = append(got, aws.ToString(r.Dynamodb.SequenceNumber))
		}
		it = out.NextShardIterator
	}
	if fmt.Sprint(got) != fmt.Sprint(want[1:]) || fmt.Sprint(pages) != "[2 2 2]" {
		t.Errorf("read %v in pages %v, want %v in [2 2 2]", got, pages, want[1:])
	}
	for i := 1; i < len(want); i++ {
		if want[i] <= want[i-1] {
			t.Errorf("sequence numbers not increasing: %s then %s", want[i-1], want[i])
		}
	}
	// LATEST of a closed shard is its end at once.
	out, err := c.GetRecords(context.Background(), &dynamodbstreams.GetRecordsInput{ShardIterator: iterator(t, c, arn, "s1", types.ShardIteratorTypeLatest, "")})
	must(t, err)
	if len(out.Records) != 0 || out.NextShardIterator != nil {
		t.Errorf("LATEST of closed shard: %d records, next %v", len(out.Records), out.NextShardIterator)
	}
	it = iterator(t, c, arn, "s1", types.ShardIteratorTypeTrimHorizon, "")
	_, err = c.GetRecords(context.Background(), &dynamodbstreams.GetRecordsInput{ShardIterator: it, Limit: aws.Int32(1001)})
	wantCode(t, err, "ValidationException", 400)
}

func wantCode(t *testing.T, err error, code string, status int) {
	t.Helper()
	var apiErr smithy.APIError
	var resp *smithyhttp.ResponseError
	if !errors.As(err, &apiErr) || apiErr.ErrorCode() != code {
		t.Fatalf("error %v, want code %s", err, code)
	}
	if !errors.As(err, &resp) || resp.HTTPStatusCode() != status {
		t.Fatalf("error %v, want HTTP %d", err, status)
	}
}

func TestFailNext_AnswersWithRealErrorShapes(t *testing.T) {
	tests := []struct {
		fault  Fault
		code   string
		status int
	}{
		{LimitExceeded, "LimitExceededException", 400},
		{ProvisionedThroughputExceeded, "ProvisionedThroughputExceededException", 400},
		{Throttling, "ThrottlingException", 400},
		{RequestLimitExceeded, "RequestLimitExceeded", 400},
		{InternalServerError, "InternalServerError", 500},
		{ServiceUnavailable, "ServiceUnavailable", 503},
	}
	for _, tt := range tests {
		t.Run(tt.fault.String(), func(t *testing.T) {
			s, c := start(t, Options{})
			arn := mustStream(t, s, "orders", "NEW_IMAGE")
			s.FailNext(OpDescribeStream, 2, tt.fault)
			for range 2 {
				_, err := c.DescribeStream(context.Background(), &dynamodbstreams.DescribeStreamInput{StreamArn: &arn})
				wantCode(t, err, tt.code, tt.status)
			}
			if _, err := c.DescribeStream(context.Background(), &dynamodbstreams.DescribeStreamInput{StreamArn: &arn}); err != nil {
				t.Errorf("third call failed: %v", err)
			}
			if n := s.Calls(OpDescribeStream); n != 3 {
				t.Errorf("Calls = %d, want 3", n)
			}
		})
	}
}

func TestFailNext_BodyNamesTheErrorLikeDynamoDB(t *testing.T) {
	s, _ := start(t, Options{})
	s.FailNext(OpGetRecords, 1, LimitExceeded)
	req, _ := http.NewRequest("POST", s.URL(), bytes.NewBufferString(`{"ShardIterator":"x"}`))
	req.Header.Set("X-Amz-Target", "DynamoDBStreams_20120810.GetRecords")
	req.Header.Set("Content-Type", "application/x-amz-json-1.0")
	resp, err := http.DefaultClient.Do(req)
	must(t, err)
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	want := `{"__type":"com.amazonaws.dynamodb.v20120810#LimitExceededException","message":"Rate exceeded for shard"}`
	if resp.StatusCode != 400 || string(body) != want || resp.Header.Get("Content-Type") != "application/x-amz-json-1.0" {
		t.Errorf("HTTP %d %s %q, want 400 %s", resp.StatusCode, resp.Header.Get("Content-Type"), body, want)
	}
}

func TestFailNext_ConnectionResetFailsTheRequest(t *testing.T) {
	s, c := start(t, Options{})
	arn := mustStream(t, s, "orders", "NEW_IMAGE")
	s.FailNext(OpDescribeStream, 1, ConnectionReset)
	_, err := c.DescribeStream(context.Background(), &dynamodbstreams.DescribeStreamInput{StreamArn: &arn})
	var sendErr *smithyhttp.RequestSendError
	if !errors.As(err, &sendErr) {
		t.Fatalf("error %v (%T), want a RequestSendError", err, err)
	}
	if _, err := c.DescribeStream(context.Background(), &dynamodbstreams.DescribeStreamInput{StreamArn: &arn}); err != nil {
		t.Errorf("next call failed: %v", err)
	}
}

func TestDescribeStream_PagesWithLimitAndShowsLineage(t *testing.T) {
	s, c := start(t, Options{})
	arn := mustStream(t, s, "orders", "NEW_IMAGE")
	for i := range 7 {
		must(t, s.AddShard(arn, ShardID(i), ""))
	}
	must(t, s.Split(ShardID(0), "c1", "c2"))
	var ids []string
	var start *string
	pages := 0
	for {
		out, err := c.DescribeStream(context.Background(), &dynamodbstreams.DescribeStreamInput{StreamArn: &arn, Limit: aws.Int32(4), ExclusiveStartShardId: start})
		must(t, err)
		pages++
		d := out.StreamDescription
		if aws.ToString(d.TableName) != "orders" || d.StreamStatus != types.StreamStatusEnabled || d.StreamViewType != types.StreamViewTypeNewImage || len(d.KeySchema) != 2 {
			t.Errorf("description = %+v", d)
		}
		for _, sh := range d.Shards {
			ids = append(ids, aws.ToString(sh.ShardId))
			closed := sh.SequenceNumberRange.EndingSequenceNumber != nil
			if (aws.ToString(sh.ShardId) == ShardID(0)) != closed {
				t.Errorf("shard %s closed=%v", aws.ToString(sh.ShardId), closed)
			}
			if p := aws.ToString(sh.ParentShardId); (p == ShardID(0)) != (aws.ToString(sh.ShardId)[0] == 'c') {
				t.Errorf("shard %s parent %q", aws.ToString(sh.ShardId), p)
			}
		}
		start = d.LastEvaluatedShardId
		if start == nil {
			break
		}
	}
	if len(ids) != 9 || pages != 3 {
		t.Errorf("listed %v in %d pages, want 9 shards in 3", ids, pages)
	}
}

func TestTrimAndRemove(t *testing.T) {
	s, c := start(t, Options{})
	arn := mustStream(t, s, "orders", "NEW_IMAGE")
	must(t, s.AddShard(arn, "s1", ""))
	var seqs []string
	for range 5 {
		seq, err := s.AppendRecords("s1", Record{Keys: map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: "a"}}})
		must(t, err)
		seqs = append(seqs, seq...)
	}
	old := iterator(t, c, arn, "s1", types.ShardIteratorTypeTrimHorizon, "")
	must(t, s.Trim("s1", seqs[1]))

	_, err := c.GetRecords(context.Background(), &dynamodbstreams.GetRecordsInput{ShardIterator: old})
	wantCode(t, err, "TrimmedDataAccessException", 400)
	_, err = c.GetShardIterator(context.Background(), &dynamodbstreams.GetShardIteratorInput{StreamArn: &arn, ShardId: aws.String("s1"),
		ShardIteratorType: types.ShardIteratorTypeAfterSequenceNumber, SequenceNumber: &seqs[0]})
	wantCode(t, err, "TrimmedDataAccessException", 400)

	out, err := c.GetRecords(context.Background(), &dynamodbstreams.GetRecordsInput{ShardIterator: iterator(t, c, arn, "s1", types.ShardIteratorTypeTrimHorizon, "")})
	must(t, err)
	if len(out.Records) != 3 || aws.ToString(out.Records[0].Dynamodb.SequenceNumber) != seqs[2] {
		t.Errorf("after trim TRIM_HORIZON read %d records", len(out.Records))
	}
	iterator(t, c, arn, "s1", types.ShardIteratorTypeAfterSequenceNumber, seqs[1]) // nothing after it was trimmed

	must(t, s.RemoveShard("s1"))
	_, err = c.GetShardIterator(context.Background(), &dynamodbstreams.GetShardIteratorInput{StreamArn: &arn, ShardId: aws.String("s1"), ShardIteratorType: types.ShardIteratorTypeTrimHorizon})
	wantCode(t, err, "ResourceNotFoundException", 400)
	if ids := s.ShardIDs(arn); len(ids) != 0 {
		t.Errorf("removed shard still listed: %v", ids)
	}
}

func TestIterators_ExpireOnDemandAndAfterTheirTTL(t *testing.T) {
	var mu sync.Mutex
	now := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	s, c := start(t, Options{Now: clock})
	arn := mustStream(t, s, "orders", "NEW_IMAGE")
	must(t, s.AddShard(arn, "s1", ""))

	it := iterator(t, c, arn, "s1", types.ShardIteratorTypeLatest, "")
	s.ExpireIterators()
	_, err := c.GetRecords(context.Background(), &dynamodbstreams.GetRecordsInput{ShardIterator: it})
	wantCode(t, err, "ExpiredIteratorException", 400)

	it = iterator(t, c, arn, "s1", types.ShardIteratorTypeLatest, "")
	mu.Lock()
	now = now.Add(14 * time.Minute)
	mu.Unlock()
	out, err := c.GetRecords(context.Background(), &dynamodbstreams.GetRecordsInput{ShardIterator: it})
	must(t, err) // 14 minutes: still valid
	mu.Lock()
	now = now.Add(16 * time.Minute)
	mu.Unlock()
	_, err = c.GetRecords(context.Background(), &dynamodbstreams.GetRecordsInput{ShardIterator: out.NextShardIterator})
	wantCode(t, err, "ExpiredIteratorException", 400)
}

func TestDescribeTableAndListStreams(t *testing.T) {
	s, c := start(t, Options{})
	ddb := dynamodb.NewFromConfig(s.Config())
	arns := map[string]string{}
	for i := range 5 {
		name := fmt.Sprintf("table%d", i)
		arns[name] = mustStream(t, s, name, "NEW_AND_OLD_IMAGES")
	}
	_, err := s.CreateTable(TableSpec{Name: "plain"})
	must(t, err)

	out, err := ddb.DescribeTable(context.Background(), &dynamodb.DescribeTableInput{TableName: aws.String("table3")})
	must(t, err)
	tb := out.Table
	if aws.ToString(tb.TableArn) != s.TableARN("table3") || aws.ToString(tb.LatestStreamArn) != arns["table3"] ||
		tb.StreamSpecification == nil || !aws.ToBool(tb.StreamSpecification.StreamEnabled) ||
		tb.StreamSpecification.StreamViewType != ddbtypes.StreamViewTypeNewAndOldImages || tb.TableStatus != ddbtypes.TableStatusActive ||
		len(tb.KeySchema) != 2 || tb.CreationDateTime == nil {
		t.Errorf("DescribeTable = %+v", tb)
	}
	out, err = ddb.DescribeTable(context.Background(), &dynamodb.DescribeTableInput{TableName: aws.String("plain")})
	must(t, err)
	if out.Table.StreamSpecification != nil || out.Table.LatestStreamArn != nil {
		t.Errorf("table without stream shows one: %+v", out.Table)
	}
	_, err = ddb.DescribeTable(context.Background(), &dynamodb.DescribeTableInput{TableName: aws.String("nope")})
	wantCode(t, err, "ResourceNotFoundException", 400)

	var listed []string
	var start *string
	for {
		ls, err := c.ListStreams(context.Background(), &dynamodbstreams.ListStreamsInput{Limit: aws.Int32(2), ExclusiveStartStreamArn: start})
		must(t, err)
		for _, st := range ls.Streams {
			listed = append(listed, aws.ToString(st.StreamArn))
		}
		if start = ls.LastEvaluatedStreamArn; start == nil {
			break
		}
	}
	if len(listed) != 5 {
		t.Errorf("ListStreams listed %d streams, want 5", len(listed))
	}
	ls, err := c.ListStreams(context.Background(), &dynamodbstreams.ListStreamsInput{TableName: aws.String("table1")})
	must(t, err)
	if len(ls.Streams) != 1 || aws.ToString(ls.Streams[0].StreamArn) != arns["table1"] {
		t.Errorf("ListStreams(table1) = %+v", ls.Streams)
	}
	if n := s.Calls(OpDescribeTable); n != 3 {
		t.Errorf("DescribeTable calls = %d, want 3", n)
	}
}

func TestPut_KeepsAKeyOnItsShardThenMovesItToAChild(t *testing.T) {
	s, _ := start(t, Options{})
	arn := mustStream(t, s, "orders", "NEW_IMAGE")
	must(t, s.AddShard(arn, "a", ""))
	must(t, s.AddShard(arn, "b", ""))
	key := func(i int) Record {
		return Record{Keys: map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: fmt.Sprint("k", i)}}}
	}
	home := map[int]string{}
	for i := range 20 {
		seq, err := s.Put(arn, key(i))
		must(t, err)
		home[i] = shardOf(s, seq[0])
	}
	must(t, s.Split("a", "a1", "a2"))
	for i := range 20 {
		seq, err := s.Put(arn, key(i))
		must(t, err)
		got := shardOf(s, seq[0])
		switch home[i] {
		case "a":
			if got != "a1" && got != "a2" {
				t.Errorf("key %d moved from a to %s, want a child of a", i, got)
			}
		case "b":
			if got != "b" {
				t.Errorf("key %d moved from open shard b to %s", i, got)
			}
		}
	}
	if _, err := s.AppendRecords("a", key(0)); !errors.Is(err, ErrShardClosed) {
		t.Errorf("append to closed shard: %v, want ErrShardClosed", err)
	}
}

func shardOf(s *Server, seq string) string {
	for _, id := range []string{"a", "b", "a1", "a2"} {
		for _, r := range s.Records(id) {
			if r == seq {
				return id
			}
		}
	}
	return ""
}

func TestServer_ModelChangesWhileServingConcurrently(t *testing.T) {
	s, c := start(t, Options{})
	arn := mustStream(t, s, "orders", "NEW_IMAGE")
	must(t, s.AddShard(arn, "s0", ""))
	var wg sync.WaitGroup
	ctx, cancel := context.WithCancel(context.Background())
	errs := make(chan error, 4)
	for range 3 {
		wg.Go(func() {
			for ctx.Err() == nil {
				out, err := c.DescribeStream(ctx, &dynamodbstreams.DescribeStreamInput{StreamArn: &arn})
				if err != nil {
					if ctx.Err() == nil {
						errs <- err
					}
					return
				}
				for _, sh := range out.StreamDescription.Shards {
					in := &dynamodbstreams.GetShardIteratorInput{StreamArn: &arn, ShardId: sh.ShardId, ShardIteratorType: types.ShardIteratorTypeTrimHorizon}
					it, err := c.GetShardIterator(ctx, in)
					if err == nil {
						_, err = c.GetRecords(ctx, &dynamodbstreams.GetRecordsInput{ShardIterator: it.ShardIterator})
					}
					if err != nil && ctx.Err() == nil {
						errs <- err
						return
					}
				}
			}
		})
	}
	for i := range 30 {
		_, err := s.Put(arn, Record{Keys: map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: fmt.Sprint(i)}}})
		must(t, err)
		if i%10 == 9 {
			ids := s.ShardIDs(arn)
			must(t, s.Split(ids[len(ids)-1], fmt.Sprint("c", i)))
		}
	}
	cancel()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
