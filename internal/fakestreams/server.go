// Package fakestreams is an in-process DynamoDB Streams server for tests and benchmarks.
// It speaks the real AWS JSON 1.0 protocol (DynamoDBStreams_20120810 DescribeStream,
// GetShardIterator, GetRecords, ListStreams, and DynamoDB_20120810 DescribeTable), so
// the SDK's own dynamodb and dynamodbstreams clients talk to it unchanged with
// BaseEndpoint set to URL(). It exists for what DynamoDB Local cannot provoke: shard
// splits, expired iterators, throttling, 5xx, connection resets and trims.
//
// The model is programmed through Server's methods (CreateTable, AddShard,
// AppendRecords or Put, Split, CloseShard, Trim, RemoveShard, ExpireIterators, FailNext,
// OnGetRecords); all are safe for concurrent use while clients are served, so a test
// can run worker processes against one server and change it under them.
package fakestreams

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

// Operation names, as in X-Amz-Target, for FailNext and Calls.
const (
	OpDescribeStream   = "DescribeStream"
	OpGetShardIterator = "GetShardIterator"
	OpGetRecords       = "GetRecords"
	OpListStreams      = "ListStreams"
	OpDescribeTable    = "DescribeTable"
)

const (
	streamsPrefix  = "DynamoDBStreams_20120810"
	dynamoDBPrefix = "DynamoDB_20120810"
	errNamespace   = "com.amazonaws.dynamodb.v20120810#"
)

// Options configures a Server. Zero fields take the defaults.
type Options struct {
	Region      string           // us-east-1
	AccountID   string           // 123456789012
	IteratorTTL time.Duration    // 15 minutes, as DynamoDB
	Now         func() time.Time // time.Now; stamps records and ages iterators
}

// Server is the fake. Create it with Start or NewServer, and Close it.
type Server struct {
	opts Options
	ts   *httptest.Server

	mu           sync.Mutex
	tables       map[string]*table
	streams      map[string]*stream
	streamOrder  []string
	shards       map[string]*shard
	keyShard     map[string]string // stream ARN + key -> shard, for Put
	seq          uint64
	eventN       uint64
	epoch        int
	ttl          time.Duration
	faults       map[string][]Fault
	calls        map[string]int64
	onGetRecords func(shardID string)
}

// Start starts a server with default options.
func Start() *Server { return NewServer(Options{}) }

// NewServer starts a server listening on a local port.
func NewServer(opts Options) *Server {
	if opts.Region == "" {
		opts.Region = "us-east-1"
	}
	if opts.AccountID == "" {
		opts.AccountID = "123456789012"
	}
	if opts.IteratorTTL <= 0 {
		opts.IteratorTTL = 15 * time.Minute
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Server{
		opts:     opts,
		tables:   map[string]*table{},
		streams:  map[string]*stream{},
		shards:   map[string]*shard{},
		keyShard: map[string]string{},
		seq:      1_000_000_000,
		ttl:      opts.IteratorTTL,
		faults:   map[string][]Fault{},
		calls:    map[string]int64{},
	}
	s.ts = httptest.NewServer(http.HandlerFunc(s.serveHTTP))
	return s
}

// URL is the endpoint to give the SDK clients as BaseEndpoint.
func (s *Server) URL() string { return s.ts.URL }

// Close stops the server and waits for requests in flight.
func (s *Server) Close() { s.ts.Close() }

// Config returns an SDK configuration for this server: its region, static credentials,
// BaseEndpoint = URL(), and the SDK's retryer limited to one attempt so that the
// caller's own retry layer is what meets the injected faults.
//
// Its HTTP client buffers request bodies before sending them. Without that, the SDK
// closing a request body while net/http's write loop still reads it makes the
// transport close the connection under the response now and then ("use of closed
// network connection" on a 200, aws/aws-sdk-go-v2#2737); the SDK's default retryer
// hides that, a one-attempt retryer does not, and tests counting waits or calls would
// flake. Production clients keep the SDK's default retryer.
func (s *Server) Config() aws.Config {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 256 // many shard readers against one server
	return aws.Config{
		Region:       s.opts.Region,
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDFAKESTREAMS", "fake-secret", ""),
		BaseEndpoint: aws.String(s.ts.URL),
		Retryer:      func() aws.Retryer { return retry.AddWithMaxAttempts(retry.NewStandard(), 1) },
		HTTPClient:   &http.Client{Transport: bufferedBodies{tr}},
	}
}

// bufferedBodies sends each request with a body of its own, which nobody else closes.
type bufferedBodies struct{ next http.RoundTripper }

func (b bufferedBodies) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return b.next.RoundTrip(r)
	}
	body, err := io.ReadAll(r.Body)
	r.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("buffer request body: %w", err)
	}
	c := r.Clone(r.Context())
	c.Body = io.NopCloser(bytes.NewReader(body))
	c.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	c.ContentLength = int64(len(body))
	return b.next.RoundTrip(c)
}

func (s *Server) now() time.Time { return s.opts.Now() }

// Fault is an injected failure of one request.
type Fault int

const (
	// LimitExceeded answers 400 LimitExceededException (Streams' throttling).
	LimitExceeded Fault = iota + 1
	// ProvisionedThroughputExceeded answers 400 ProvisionedThroughputExceededException.
	ProvisionedThroughputExceeded
	// Throttling answers 400 ThrottlingException.
	Throttling
	// RequestLimitExceeded answers 400 RequestLimitExceeded (account-level throttling).
	RequestLimitExceeded
	// InternalServerError answers 500 InternalServerError.
	InternalServerError
	// ServiceUnavailable answers 503 ServiceUnavailable.
	ServiceUnavailable
	// ConnectionReset closes the connection without a response (RST).
	ConnectionReset
)

// ThrottlingFaults lists the throttling faults, for tests that try each.
var ThrottlingFaults = []Fault{LimitExceeded, ProvisionedThroughputExceeded, Throttling, RequestLimitExceeded}

func (f Fault) String() string {
	switch f {
	case LimitExceeded:
		return "LimitExceededException"
	case ProvisionedThroughputExceeded:
		return "ProvisionedThroughputExceededException"
	case Throttling:
		return "ThrottlingException"
	case RequestLimitExceeded:
		return "RequestLimitExceeded"
	case InternalServerError:
		return "InternalServerError"
	case ServiceUnavailable:
		return "ServiceUnavailable"
	case ConnectionReset:
		return "ConnectionReset"
	}
	return fmt.Sprintf("Fault(%d)", int(f))
}

// FailNext makes the next n requests of op (an Op constant) fail with f, after any
// faults queued earlier for op.
func (s *Server) FailNext(op string, n int, f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.faults[op] = append(s.faults[op], f)
	}
}

// Calls returns how many requests of op arrived, failed ones included.
func (s *Server) Calls(op string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[op]
}

// CallCounts returns the request counts of every operation seen.
func (s *Server) CallCounts() map[string]int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.calls)
}

// ResetCalls sets every request count to zero.
func (s *Server) ResetCalls() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.calls)
}

// apiError is an error response of the protocol.
type apiError struct {
	status int
	code   string // without namespace
	msg    string
}

func errValidation(format string, args ...any) *apiError {
	return &apiError{http.StatusBadRequest, "ValidationException", fmt.Sprintf(format, args...)}
}

func errNotFound(format string, args ...any) *apiError {
	return &apiError{http.StatusBadRequest, "ResourceNotFoundException", fmt.Sprintf(format, args...)}
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	// DynamoDB's clock, as the real service tells it: the fake's, so a test moves it.
	w.Header().Set("Date", s.now().UTC().Format(http.TimeFormat))
	prefix, op, _ := strings.Cut(r.Header.Get("X-Amz-Target"), ".")
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return // the client went away
	}

	s.mu.Lock()
	s.calls[op]++
	var fault Fault
	if q := s.faults[op]; len(q) > 0 {
		fault, s.faults[op] = q[0], q[1:]
	}
	hook := s.onGetRecords
	s.mu.Unlock()

	if fault != 0 {
		s.writeFault(w, fault)
		return
	}

	var (
		out  any
		aerr *apiError
	)
	switch {
	case prefix == streamsPrefix && op == OpDescribeStream:
		var in describeStreamIn
		if aerr = decode(body, &in); aerr == nil {
			out, aerr = s.describeStream(in)
		}
	case prefix == streamsPrefix && op == OpGetShardIterator:
		var in getShardIteratorIn
		if aerr = decode(body, &in); aerr == nil {
			out, aerr = s.getShardIterator(in)
		}
	case prefix == streamsPrefix && op == OpGetRecords:
		var in getRecordsIn
		if aerr = decode(body, &in); aerr == nil {
			if it, ok := parseIterator(in.ShardIterator); ok && hook != nil {
				hook(it.shard)
			}
			out, aerr = s.getRecords(in)
		}
	case prefix == streamsPrefix && op == OpListStreams:
		var in listStreamsIn
		if aerr = decode(body, &in); aerr == nil {
			out, aerr = s.listStreams(in)
		}
	case prefix == dynamoDBPrefix && op == OpDescribeTable:
		var in describeTableIn
		if aerr = decode(body, &in); aerr == nil {
			out, aerr = s.describeTable(in)
		}
	default:
		aerr = &apiError{http.StatusBadRequest, "UnknownOperationException", "the fake does not serve " + r.Header.Get("X-Amz-Target")}
	}
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

func decode(body []byte, v any) *apiError {
	if len(bytes.TrimSpace(body)) == 0 {
		body = []byte("{}")
	}
	if err := json.Unmarshal(body, v); err != nil {
		return &apiError{http.StatusBadRequest, "SerializationException", "cannot parse request: " + err.Error()}
	}
	return nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		writeError(w, &apiError{http.StatusInternalServerError, "InternalServerError", "encode response: " + err.Error()})
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/x-amz-json-1.0")
	h.Set("x-amzn-RequestId", fmt.Sprintf("FAKESTREAMS%021d", time.Now().UnixNano()))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func writeError(w http.ResponseWriter, e *apiError) {
	ns := errNamespace
	if e.code == "ThrottlingException" {
		ns = "com.amazon.coral.availability#" // where DynamoDB's ThrottlingException lives
	}
	writeJSON(w, e.status, errorOut{Type: ns + e.code, Message: e.msg})
}

func (s *Server) writeFault(w http.ResponseWriter, f Fault) {
	switch f {
	case LimitExceeded:
		writeError(w, &apiError{http.StatusBadRequest, f.String(), "Rate exceeded for shard"})
	case ProvisionedThroughputExceeded:
		writeError(w, &apiError{http.StatusBadRequest, f.String(), "The level of configured provisioned throughput for the table was exceeded."})
	case Throttling:
		writeError(w, &apiError{http.StatusBadRequest, f.String(), "Rate of requests exceeds the allowed throughput."})
	case RequestLimitExceeded:
		writeError(w, &apiError{http.StatusBadRequest, f.String(), "Throughput exceeds the current throughput limit for your account."})
	case InternalServerError:
		writeError(w, &apiError{http.StatusInternalServerError, f.String(), "Internal server error"})
	case ServiceUnavailable:
		writeError(w, &apiError{http.StatusServiceUnavailable, f.String(), "Service unavailable"})
	case ConnectionReset:
		hj, ok := w.(http.Hijacker)
		if !ok {
			writeError(w, &apiError{http.StatusInternalServerError, "InternalServerError", "connection cannot be hijacked"})
			return
		}
		conn, _, err := hj.Hijack()
		if err != nil {
			return
		}
		if tc, ok := conn.(*net.TCPConn); ok {
			_ = tc.SetLinger(0) // close with RST, not FIN: a reset, as a dropped load balancer sends
		}
		_ = conn.Close()
	}
}
