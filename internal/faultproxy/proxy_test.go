package faultproxy

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	streamstypes "github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
)

// target is a stand-in for DynamoDB, DynamoDB Streams and S3 that answers the few calls the
// tests make, in each service's real wire format, and counts what reached it.
type target struct {
	*httptest.Server
	hits atomic.Int64
}

func startTarget(t *testing.T) *target {
	t.Helper()
	tg := &target{}
	tg.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tg.hits.Add(1)
		_, _ = io.Copy(io.Discard, r.Body)
		switch op := r.Header.Get("X-Amz-Target"); {
		case strings.HasSuffix(op, ".ListTables"):
			w.Header().Set("Content-Type", "application/x-amz-json-1.0")
			_, _ = io.WriteString(w, `{"TableNames":["alpha","bravo","charlie","delta","echo","foxtrot"]}`)
		case strings.HasSuffix(op, ".GetRecords"):
			w.Header().Set("Content-Type", "application/x-amz-json-1.0")
			_, _ = io.WriteString(w, `{"Records":[],"NextShardIterator":"iterator-2"}`)
		case op == "" && r.Method == http.MethodGet:
			_, _ = io.WriteString(w, "hello from s3")
		default:
			http.Error(w, "unexpected request "+op, http.StatusBadRequest)
		}
	}))
	t.Cleanup(tg.Close)
	return tg
}

func startProxy(t *testing.T, target string) *Proxy {
	t.Helper()
	p := Start(target)
	t.Cleanup(p.Close)
	return p
}

var testCreds = credentials.NewStaticCredentialsProvider("key", "secret", "")

// dynamoClient makes one attempt per call unless retries are asked for, so each test sees
// exactly the error the proxy produced.
func dynamoClient(endpoint string, attempts int) *dynamodb.Client {
	return dynamodb.New(dynamodb.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(endpoint), Credentials: testCreds,
		Retryer: retry.NewStandard(func(o *retry.StandardOptions) {
			o.MaxAttempts = attempts
			o.MaxBackoff = time.Millisecond
		}),
	})
}

func listTables(ctx context.Context, c *dynamodb.Client) error {
	_, err := c.ListTables(ctx, &dynamodb.ListTablesInput{})
	return err
}

// sdkRetries tells whether the SDK's own standard retryer would retry err: the fault must
// be classified in production exactly as it is here.
func sdkRetries(err error) bool {
	return retry.NewStandard().IsErrorRetryable(err)
}

func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func httpStatus(err error) int {
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

func TestRespond_DynamoDBErrorsReachTheSDKAsTheServiceSendsThem(t *testing.T) {
	tests := []struct {
		fault  Fault
		status int
		code   string
		typed  func(error) bool
	}{
		{ProvisionedThroughputExceeded, 400, "ProvisionedThroughputExceededException",
			func(err error) bool { var e *types.ProvisionedThroughputExceededException; return errors.As(err, &e) }},
		{Throttling, 400, "ThrottlingException", func(error) bool { return true }},
		{LimitExceeded, 400, "LimitExceededException",
			func(err error) bool { var e *types.LimitExceededException; return errors.As(err, &e) }},
		{RequestLimitExceeded, 400, "RequestLimitExceeded",
			func(err error) bool { var e *types.RequestLimitExceeded; return errors.As(err, &e) }},
		{InternalServerError, 500, "InternalServerError",
			func(err error) bool { var e *types.InternalServerError; return errors.As(err, &e) }},
		{ServiceUnavailable, 503, "ServiceUnavailableException", func(error) bool { return true }},
	}
	tg := startTarget(t)
	for _, tt := range tests {
		t.Run(tt.fault.Name, func(t *testing.T) {
			p := startProxy(t, tg.URL)
			p.Add(Rule{Op: "ListTables", Fault: tt.fault, Next: 1})
			before := tg.hits.Load()
			err := listTables(t.Context(), dynamoClient(p.URL(), 1))
			if err == nil {
				t.Fatal("call succeeded; want the injected error")
			}
			if got := apiCode(err); got != tt.code {
				t.Errorf("error code %q, want %q (err: %v)", got, tt.code, err)
			}
			if got := httpStatus(err); got != tt.status {
				t.Errorf("HTTP status %d, want %d", got, tt.status)
			}
			if !tt.typed(err) {
				t.Errorf("error %T is not the SDK's modelled type", err)
			}
			if !sdkRetries(err) {
				t.Errorf("the SDK would not retry %v; a throttle or 5xx must be retryable", err)
			}
			if tg.hits.Load() != before {
				t.Error("the request reached the target; a Respond fault must answer in its place")
			}
			if got := p.Injected(tt.fault.Name); got != 1 {
				t.Errorf("Injected(%q) = %d, want 1", tt.fault.Name, got)
			}
			// The rule is spent: the next call goes through.
			if err := listTables(t.Context(), dynamoClient(p.URL(), 1)); err != nil {
				t.Errorf("second call: %v", err)
			}
		})
	}
}

func TestRespond_StreamsErrorsForGetRecords(t *testing.T) {
	tg := startTarget(t)
	p := startProxy(t, tg.URL)
	c := dynamodbstreams.New(dynamodbstreams.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(p.URL()), Credentials: testCreds, Retryer: aws.NopRetryer{},
	})
	in := &dynamodbstreams.GetRecordsInput{ShardIterator: aws.String("iterator-1")}
	p.Add(Rule{Op: "GetRecords", Fault: ExpiredIterator, Next: 1}, Rule{Op: "GetRecords", Fault: TrimmedDataAccess, Next: 1})

	_, err := c.GetRecords(t.Context(), in)
	var expired *streamstypes.ExpiredIteratorException
	if !errors.As(err, &expired) {
		t.Fatalf("first GetRecords: %v; want ExpiredIteratorException", err)
	}
	_, err = c.GetRecords(t.Context(), in)
	var trimmed *streamstypes.TrimmedDataAccessException
	if !errors.As(err, &trimmed) {
		t.Fatalf("second GetRecords: %v; want TrimmedDataAccessException", err)
	}
	out, err := c.GetRecords(t.Context(), in)
	if err != nil || aws.ToString(out.NextShardIterator) != "iterator-2" {
		t.Fatalf("third GetRecords = %v, %v; want the target's answer", out, err)
	}
}

func TestRespond_S3ErrorsAreXML(t *testing.T) {
	tg := startTarget(t)
	p := startProxy(t, tg.URL)
	c := s3.New(s3.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(p.URL()), Credentials: testCreds,
		UsePathStyle: true, Retryer: aws.NopRetryer{},
	})
	in := &s3.GetObjectInput{Bucket: aws.String("bucket"), Key: aws.String("table/a.parquet")}
	p.Add(Rule{Method: "GET", PathPrefix: "/bucket/table/", Fault: S3SlowDown, Next: 1})
	p.Add(Rule{Method: "GET", PathPrefix: "/bucket/", Fault: S3InternalError, Next: 1})

	for _, want := range []struct {
		code   string
		status int
	}{{"SlowDown", 503}, {"InternalError", 500}} {
		_, err := c.GetObject(t.Context(), in)
		if apiCode(err) != want.code || httpStatus(err) != want.status || !sdkRetries(err) {
			t.Errorf("GetObject: %v; want retryable %s with status %d", err, want.code, want.status)
		}
	}
	out, err := c.GetObject(t.Context(), in)
	if err != nil {
		t.Fatalf("third GetObject: %v", err)
	}
	defer out.Body.Close()
	if b, _ := io.ReadAll(out.Body); string(b) != "hello from s3" {
		t.Errorf("body %q, want the target's", b)
	}
	if p.Injected("S3SlowDown") != 1 || p.Injected("S3InternalError") != 1 {
		t.Errorf("counts %v, want one of each", p.Counts())
	}
}

func TestReset_ClosesTheConnectionBeforeTheTargetSeesTheRequest(t *testing.T) {
	tg := startTarget(t)
	p := startProxy(t, tg.URL)
	p.Add(Rule{Op: "ListTables", Fault: ConnectionReset, Next: 1})
	err := listTables(t.Context(), dynamoClient(p.URL(), 1))
	if err == nil || !sdkRetries(err) {
		t.Fatalf("error %v; want a retryable connection error", err)
	}
	if tg.hits.Load() != 0 {
		t.Error("the target saw the request")
	}
}

func TestResetAfter_TheRequestTookEffectButTheAnswerIsLost(t *testing.T) {
	tg := startTarget(t)
	p := startProxy(t, tg.URL)
	p.Add(Rule{Op: "ListTables", Fault: ConnectionResetAfter, Next: 1})
	err := listTables(t.Context(), dynamoClient(p.URL(), 1))
	if err == nil || !sdkRetries(err) {
		t.Fatalf("error %v; want a retryable connection error", err)
	}
	if tg.hits.Load() != 1 {
		t.Errorf("target hits %d, want 1", tg.hits.Load())
	}
}

func TestTruncate_SendsHalfTheBodyOfADeclaredLength(t *testing.T) {
	tg := startTarget(t)
	p := startProxy(t, tg.URL)
	p.Add(Rule{Op: "ListTables", Fault: TruncatedResponse, Next: 1})
	err := listTables(t.Context(), dynamoClient(p.URL(), 1))
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("error %v; want one wrapping io.ErrUnexpectedEOF", err)
	}
	if tg.hits.Load() != 1 {
		t.Errorf("target hits %d, want 1", tg.hits.Load())
	}
	if err := listTables(t.Context(), dynamoClient(p.URL(), 1)); err != nil {
		t.Errorf("next call: %v", err)
	}
}

func TestDelay_HoldsTheRequestThenForwardsIt(t *testing.T) {
	tg := startTarget(t)
	p := startProxy(t, tg.URL)
	p.Add(Rule{Op: "ListTables", Fault: Delayed(time.Hour), Next: 1})
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	if err := listTables(ctx, dynamoClient(p.URL(), 1)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("error %v; want the client's deadline to pass while the proxy holds the request", err)
	}
	p.Add(Rule{Op: "ListTables", Fault: Delayed(time.Millisecond), Next: 1})
	if err := listTables(t.Context(), dynamoClient(p.URL(), 1)); err != nil {
		t.Fatalf("short delay: %v", err)
	}
	if got := p.Injected("Delay"); got != 2 {
		t.Errorf("Injected(Delay) = %d, want 2", got)
	}
}

func TestNext_FiresForExactlyNMatchingRequestsAndSDKRetriesThrough(t *testing.T) {
	tg := startTarget(t)
	p := startProxy(t, tg.URL)
	p.Add(Rule{Op: "Scan", Fault: Throttling, Next: 5}) // another operation: never fires here
	p.Add(Rule{Op: "ListTables", Fault: ProvisionedThroughputExceeded, Next: 2})
	if err := listTables(t.Context(), dynamoClient(p.URL(), 3)); err != nil {
		t.Fatalf("ListTables with 3 attempts: %v", err)
	}
	if got := p.Injected("ProvisionedThroughputExceededException"); got != 2 {
		t.Errorf("injected %d, want 2", got)
	}
	if got := p.Seen("ListTables"); got != 3 {
		t.Errorf("Seen(ListTables) = %d, want 3", got)
	}
	if got := p.Injected("ThrottlingException"); got != 0 {
		t.Errorf("a Scan rule fired for ListTables %d times", got)
	}
}

func TestRate_SameSeedGivesTheSameFaults(t *testing.T) {
	tg := startTarget(t)
	pattern := func(seed uint64) string {
		p := startProxy(t, tg.URL)
		p.Seed(seed)
		p.Add(Rule{Op: "ListTables", Fault: InternalServerError, Rate: 0.5})
		c := dynamoClient(p.URL(), 1)
		var b strings.Builder
		for range 40 {
			if listTables(t.Context(), c) != nil {
				b.WriteByte('x')
			} else {
				b.WriteByte('.')
			}
		}
		if int(p.Injected("InternalServerError")) != strings.Count(b.String(), "x") {
			t.Errorf("counter %d disagrees with %d failed calls", p.Injected("InternalServerError"), strings.Count(b.String(), "x"))
		}
		return b.String()
	}
	a, b := pattern(7), pattern(7)
	if a != b {
		t.Errorf("seed 7 gave %s then %s", a, b)
	}
	if !strings.Contains(a, "x") || !strings.Contains(a, ".") {
		t.Errorf("rate 0.5 over 40 requests gave %s; want a mix", a)
	}
	if c := pattern(8); c == a {
		t.Errorf("seeds 7 and 8 gave the same pattern %s", c)
	}
}

func TestRule_WithNeitherNextNorRateNeverFires(t *testing.T) {
	tg := startTarget(t)
	p := startProxy(t, tg.URL)
	p.Add(Rule{Op: "ListTables", Fault: InternalServerError})
	if err := listTables(t.Context(), dynamoClient(p.URL(), 1)); err != nil {
		t.Fatalf("ListTables: %v", err)
	}
}

func TestReconfiguration_IsSafeWhileRequestsFlow(t *testing.T) {
	tg := startTarget(t)
	p := startProxy(t, tg.URL)
	c := dynamoClient(p.URL(), 1)
	var failed atomic.Int64
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Go(func() {
			for range 50 {
				if listTables(t.Context(), c) != nil {
					failed.Add(1)
				}
			}
		})
	}
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			p.Add(Rule{Op: "ListTables", Fault: Throttling, Rate: 0.5})
			p.Seed(uint64(i))
			p.Clear()
		}
	})
	for p.Seen("ListTables") < 200 {
		time.Sleep(time.Millisecond)
	}
	close(stop)
	wg.Wait()
	if got := p.Injected("ThrottlingException"); got != failed.Load() {
		t.Errorf("injected %d, but %d calls failed", got, failed.Load())
	}
	p.Clear()
	if err := listTables(t.Context(), c); err != nil {
		t.Errorf("after Clear: %v", err)
	}
}

func TestStart_WithABadTargetAnswers502(t *testing.T) {
	p := startProxy(t, "not a url")
	resp, err := http.Get(p.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusBadGateway || !strings.Contains(string(body), "not an absolute URL") {
		t.Errorf("status %d body %q; want 502 naming the bad target", resp.StatusCode, body)
	}
}

func TestClose_ReleasesDelayedRequests(t *testing.T) {
	tg := startTarget(t)
	p := Start(tg.URL)
	p.Add(Rule{Op: "ListTables", Fault: Delayed(time.Hour), Next: 1})
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = listTables(context.Background(), dynamoClient(p.URL(), 1))
	}()
	for p.Seen("ListTables") == 0 {
		time.Sleep(time.Millisecond)
	}
	p.Close() // must not wait for the hour
	<-done
}
