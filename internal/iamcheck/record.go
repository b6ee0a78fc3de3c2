// Package iamcheck is a test fixture that proves a command calls nothing its IAM policy
// does not allow: a reverse proxy in front of DynamoDB Local and an S3 server records
// every request as the IAM actions, resources and condition keys AWS would authorize it
// by, and a small evaluator of identity policies (Allow statements; StringLike,
// StringEquals, Null and Bool conditions) says which recorded call a policy would deny.
//
// It models what ddbtape's policies use, not IAM in full: no Deny, no NotAction, no
// policy variables. An operation it cannot map is recorded as unknown, which a test
// reports, so a new kind of call cannot slip past unchecked.
package iamcheck

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync"
)

// Call is one request as IAM authorizes it.
type Call struct {
	Op string // e.g. s3:PutObject (the API operation), dynamodb:Scan
	// Actions are the IAM actions it needs; Resources the ARNs each is checked on.
	Actions   []string
	Resources []string
	// Context holds the condition keys the request carries (s3:prefix,
	// s3:if-none-match, s3:ObjectCreationOperation).
	Context map[string]string
}

func (c Call) String() string {
	return fmt.Sprintf("%s %v on %v %v", c.Op, c.Actions, c.Resources, c.Context)
}

// Recorder is a recording reverse proxy: requests with an X-Amz-Target header go to
// DynamoDB, the others to S3 (path-style).
type Recorder struct {
	srv        *httptest.Server
	region     string
	account    string
	dynamo, s3 *httputil.ReverseProxy
	mu         sync.Mutex
	calls      []Call
	lastStream string
}

// NewRecorder starts a proxy to DynamoDB at dynamoURL and S3 at s3URL. region and account
// build the ARNs of DynamoDB tables named in requests (DynamoDB Local's).
func NewRecorder(dynamoURL, s3URL, region, account string) (*Recorder, error) {
	d, err := url.Parse(dynamoURL)
	if err != nil {
		return nil, err
	}
	s, err := url.Parse(s3URL)
	if err != nil {
		return nil, err
	}
	r := &Recorder{region: region, account: account, dynamo: httputil.NewSingleHostReverseProxy(d), s3: httputil.NewSingleHostReverseProxy(s)}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	return r, nil
}

// URL is the proxy's base URL: the endpoint of DynamoDB, Streams and S3 alike.
func (r *Recorder) URL() string { return r.srv.URL }

// Close stops the proxy.
func (r *Recorder) Close() { r.srv.Close() }

// Calls returns the calls recorded so far, and forgets them.
func (r *Recorder) Calls() []Call {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.calls
	r.calls = nil
	return out
}

func (r *Recorder) record(c Call) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, c)
}

func (r *Recorder) serve(w http.ResponseWriter, req *http.Request) {
	if target := req.Header.Get("X-Amz-Target"); target != "" {
		body, _ := io.ReadAll(req.Body)
		req.Body = io.NopCloser(bytes.NewReader(body))
		r.record(r.dynamoCall(target, body))
		r.dynamo.ServeHTTP(w, req)
		return
	}
	r.record(s3Call(req))
	r.s3.ServeHTTP(w, req)
}

// dynamoCall maps a DynamoDB or Streams request: its action is dynamodb:<operation>, on
// the table it names (or the stream, for Streams).
func (r *Recorder) dynamoCall(target string, body []byte) Call {
	_, op, _ := strings.Cut(target, ".")
	c := Call{Op: "dynamodb:" + op, Actions: []string{"dynamodb:" + op}}
	var in struct {
		TableName    string
		StreamArn    string
		RequestItems map[string]json.RawMessage
	}
	_ = json.Unmarshal(body, &in)
	table := func(name string) string {
		return fmt.Sprintf("arn:aws:dynamodb:%s:%s:table/%s", r.region, r.account, name)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case in.TableName != "" && op == "ListStreams":
		c.Resources = []string{table(in.TableName) + "/stream/*"}
	case in.TableName != "":
		c.Resources = []string{table(in.TableName)}
	case in.StreamArn != "":
		c.Resources = []string{in.StreamArn}
		r.lastStream = in.StreamArn
	case len(in.RequestItems) > 0:
		for name := range in.RequestItems {
			c.Resources = append(c.Resources, table(name))
		}
		slices.Sort(c.Resources)
	case op == "GetRecords" && r.lastStream != "":
		// GetRecords names only an opaque iterator: its stream is the one the process
		// last asked an iterator of.
		c.Resources = []string{r.lastStream}
	default:
		c.Resources = []string{"*"}
	}
	return c
}

// s3Call maps an S3 request (path-style) to its operation, actions, resource and
// condition keys. An operation it does not know is "s3:unknown", never allowed.
func s3Call(req *http.Request) Call {
	path := strings.TrimPrefix(req.URL.Path, "/")
	bucket, key, _ := strings.Cut(path, "/")
	if k, err := url.PathUnescape(key); err == nil {
		key = k
	}
	q := req.URL.Query()
	q.Del("x-id") // the SDK names the operation in the query: not a sub-resource
	object := "arn:aws:s3:::" + bucket + "/" + key
	bucketARN := "arn:aws:s3:::" + bucket
	c := Call{Context: map[string]string{}}
	lock := req.Header.Get("X-Amz-Object-Lock-Mode") != ""
	creating := func(op string, creates bool) {
		c.Op, c.Resources = "s3:"+op, []string{object}
		c.Actions = []string{"s3:PutObject"}
		if lock {
			c.Actions = append(c.Actions, "s3:PutObjectRetention")
		}
		c.Context["s3:ObjectCreationOperation"] = fmt.Sprint(creates)
		if v := req.Header.Get("If-None-Match"); v != "" && creates {
			c.Context["s3:if-none-match"] = v
		}
	}
	has := func(k string) bool { return q.Has(k) }
	switch {
	case key == "" && req.Method == http.MethodGet && has("object-lock"):
		c.Op, c.Actions, c.Resources = "s3:GetObjectLockConfiguration", []string{"s3:GetBucketObjectLockConfiguration"}, []string{bucketARN}
	case key == "" && req.Method == http.MethodGet && !has("uploads") && !has("versions"):
		c.Op, c.Actions, c.Resources = "s3:ListObjectsV2", []string{"s3:ListBucket"}, []string{bucketARN}
		c.Context["s3:prefix"] = q.Get("prefix")
	case key == "":
	case req.Method == http.MethodGet && has("retention"):
		c.Op, c.Actions, c.Resources = "s3:GetObjectRetention", []string{"s3:GetObjectRetention"}, []string{object}
	case req.Method == http.MethodPut && has("retention"):
		c.Op, c.Actions, c.Resources = "s3:PutObjectRetention", []string{"s3:PutObjectRetention"}, []string{object}
	case (req.Method == http.MethodGet || req.Method == http.MethodHead) && len(q) == 0:
		c.Op, c.Actions, c.Resources = "s3:GetObject", []string{"s3:GetObject"}, []string{object}
	case req.Method == http.MethodPut && has("partNumber") && has("uploadId") && req.Header.Get("X-Amz-Copy-Source") == "":
		creating("UploadPart", false)
	case req.Method == http.MethodPut && len(q) == 0 && req.Header.Get("X-Amz-Copy-Source") == "":
		creating("PutObject", true)
	case req.Method == http.MethodPost && has("uploads"):
		creating("CreateMultipartUpload", false)
	case req.Method == http.MethodPost && has("uploadId"):
		creating("CompleteMultipartUpload", true)
	case req.Method == http.MethodDelete && has("uploadId"):
		c.Op, c.Actions, c.Resources = "s3:AbortMultipartUpload", []string{"s3:AbortMultipartUpload"}, []string{object}
	case req.Method == http.MethodDelete && len(q) == 0:
		c.Op, c.Actions, c.Resources = "s3:DeleteObject", []string{"s3:DeleteObject"}, []string{object}
	}
	if c.Op == "" {
		c.Op, c.Actions, c.Resources = "s3:unknown", []string{"s3:unknown " + req.Method + " " + req.URL.String()}, []string{object}
	}
	return c
}
