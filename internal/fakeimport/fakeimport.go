// Package fakeimport is a DynamoDB endpoint for tests that adds what DynamoDB Local lacks:
// Import from S3. It speaks the real AWS JSON 1.0 protocol for ImportTable and
// DescribeImport, so the SDK's own dynamodb client talks to it unchanged, and passes
// every other call through to a DynamoDB Local. An import does what AWS's does, on the
// test's own parts: it creates the table in DynamoDB Local from TableCreationParameters
// (but for SSESpecification, which DynamoDB Local has no use for),
// reads every object under the S3 prefix from the S3 server (versitygw) through the real
// SDK, and writes each line's {"Item":{...}} with BatchWriteItem, IN_PROGRESS until the
// last one. A line it cannot read is counted in ErrorCount and skipped, as AWS logs and
// skips it; an object it cannot read at all (not gzip, say) fails the import with
// FailureCode "InvalidInput" (the fake's own code) and the table is deleted.
package fakeimport

import (
	"bufio"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/ddbtape/ddbtape/ddbjson"
)

const (
	targetPrefix = "DynamoDB_20120810."
	errNamespace = "com.amazonaws.dynamodb.v20120810#"
)

// Options are the parts a Server imports with.
type Options struct {
	// DynamoDBEndpoint is DynamoDB Local's URL, where every other call goes.
	DynamoDBEndpoint string
	// DynamoDB is a client of DynamoDB Local, which the import creates and loads the table with.
	DynamoDB *dynamodb.Client
	// S3 is a client of the S3 server the files are read from.
	S3 *awss3.Client
	// BeforeImport, when set, runs before an import reads its files (a test damages one).
	BeforeImport func(bucket, prefix string)
}

// Server is the endpoint. Start it with Start, Close it.
type Server struct {
	opts  Options
	ts    *httptest.Server
	proxy *httputil.ReverseProxy

	mu      sync.Mutex
	imports map[string]*importJob
	n       int
	wg      sync.WaitGroup
	stop    context.CancelFunc
	ctx     context.Context
}

type importJob struct {
	desc map[string]any // ImportTableDescription, JSON members
}

// Start serves on a local port.
func Start(opts Options) (*Server, error) {
	u, err := url.Parse(opts.DynamoDBEndpoint)
	if err != nil {
		return nil, fmt.Errorf("DynamoDB endpoint %q: %w", opts.DynamoDBEndpoint, err)
	}
	ctx, stop := context.WithCancel(context.Background())
	s := &Server{opts: opts, proxy: httputil.NewSingleHostReverseProxy(u), imports: map[string]*importJob{}, ctx: ctx, stop: stop}
	s.ts = httptest.NewServer(http.HandlerFunc(s.serve))
	return s, nil
}

// URL is the endpoint for the SDK (AWS_ENDPOINT_URL_DYNAMODB, BaseEndpoint).
func (s *Server) URL() string { return s.ts.URL }

// Close stops the server and any import still running.
func (s *Server) Close() {
	s.stop()
	s.ts.Close()
	s.wg.Wait()
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	op, ok := strings.CutPrefix(r.Header.Get("X-Amz-Target"), targetPrefix)
	if !ok || op != "ImportTable" && op != "DescribeImport" {
		s.proxy.ServeHTTP(w, r)
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		writeError(w, "SerializationException", err.Error())
		return
	}
	var out any
	switch op {
	case "ImportTable":
		out, err = s.importTable(r.Context(), body)
	case "DescribeImport":
		out, err = s.describeImport(body)
	}
	if err != nil {
		var ae apiError
		if errors.As(err, &ae) {
			writeError(w, ae.kind, ae.msg)
			return
		}
		writeError(w, "InternalServerError", err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	_ = json.NewEncoder(w).Encode(out)
}

type apiError struct{ kind, msg string }

func (e apiError) Error() string { return e.kind + ": " + e.msg }

func writeError(w http.ResponseWriter, kind, msg string) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	code := http.StatusBadRequest
	if kind == "InternalServerError" {
		code = http.StatusInternalServerError
	}
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]string{"__type": errNamespace + kind, "message": msg})
}

// importRequest is ImportTable's input, as the SDK sends it.
type importRequest struct {
	ClientToken    string
	S3BucketSource struct {
		S3Bucket, S3KeyPrefix, S3BucketOwner string
	}
	InputFormat             string
	InputCompressionType    string
	TableCreationParameters tableParameters
}

type tableParameters struct {
	TableName              string
	AttributeDefinitions   []struct{ AttributeName, AttributeType string }
	KeySchema              []keyElement
	BillingMode            string
	ProvisionedThroughput  *throughput
	GlobalSecondaryIndexes []struct {
		IndexName  string
		KeySchema  []keyElement
		Projection struct {
			ProjectionType   string
			NonKeyAttributes []string
		}
		ProvisionedThroughput *throughput
	}
	SSESpecification *struct {
		Enabled        bool
		SSEType        string
		KMSMasterKeyId string
	}
}

type keyElement struct{ AttributeName, KeyType string }

type throughput struct{ ReadCapacityUnits, WriteCapacityUnits int64 }

func (s *Server) importTable(ctx context.Context, body []byte) (any, error) {
	var in importRequest
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, apiError{"SerializationException", err.Error()}
	}
	p := in.TableCreationParameters
	switch {
	case in.S3BucketSource.S3Bucket == "":
		return nil, apiError{"ValidationException", "S3BucketSource.S3Bucket is required"}
	case in.InputFormat != "DYNAMODB_JSON":
		return nil, apiError{"ValidationException", fmt.Sprintf("the fake reads InputFormat DYNAMODB_JSON only, not %q", in.InputFormat)}
	case in.InputCompressionType != "GZIP" && in.InputCompressionType != "NONE" && in.InputCompressionType != "":
		return nil, apiError{"ValidationException", fmt.Sprintf("the fake reads GZIP or NONE, not %q", in.InputCompressionType)}
	case p.TableName == "" || len(p.KeySchema) == 0:
		return nil, apiError{"ValidationException", "TableCreationParameters needs TableName and KeySchema"}
	}
	create := &dynamodb.CreateTableInput{TableName: aws.String(p.TableName), BillingMode: types.BillingMode(p.BillingMode), KeySchema: keys(p.KeySchema),
		ProvisionedThroughput: sdkThroughput(p.ProvisionedThroughput)}
	for _, a := range p.AttributeDefinitions {
		create.AttributeDefinitions = append(create.AttributeDefinitions, types.AttributeDefinition{AttributeName: aws.String(a.AttributeName), AttributeType: types.ScalarAttributeType(a.AttributeType)})
	}
	for _, g := range p.GlobalSecondaryIndexes {
		create.GlobalSecondaryIndexes = append(create.GlobalSecondaryIndexes, types.GlobalSecondaryIndex{IndexName: aws.String(g.IndexName), KeySchema: keys(g.KeySchema),
			Projection:            &types.Projection{ProjectionType: types.ProjectionType(g.Projection.ProjectionType), NonKeyAttributes: g.Projection.NonKeyAttributes},
			ProvisionedThroughput: sdkThroughput(g.ProvisionedThroughput)})
	}
	out, err := s.opts.DynamoDB.CreateTable(ctx, create)
	if err != nil {
		var inUse *types.ResourceInUseException
		if errors.As(err, &inUse) {
			return nil, apiError{"ResourceInUseException", "Table already exists: " + p.TableName}
		}
		return nil, apiError{"ValidationException", err.Error()}
	}
	s.mu.Lock()
	s.n++
	arn := fmt.Sprintf("%s/import/%014d-%08x", aws.ToString(out.TableDescription.TableArn), time.Now().UnixMilli(), s.n)
	var params any
	_ = json.Unmarshal(mustJSON(in.TableCreationParameters), &params)
	job := &importJob{desc: map[string]any{
		"ImportArn": arn, "ImportStatus": "IN_PROGRESS", "TableArn": aws.ToString(out.TableDescription.TableArn),
		"TableId": aws.ToString(out.TableDescription.TableId), "ClientToken": in.ClientToken,
		"S3BucketSource": in.S3BucketSource, "InputFormat": in.InputFormat, "InputCompressionType": in.InputCompressionType,
		"TableCreationParameters": params, "StartTime": float64(time.Now().UnixMilli()) / 1000,
		"CloudWatchLogGroupArn": "arn:aws:logs:us-east-1:000000000000:log-group:/aws-dynamodb/imports:*",
		"ProcessedItemCount":    0, "ImportedItemCount": 0, "ErrorCount": 0, "ProcessedSizeBytes": 0,
	}}
	s.imports[arn] = job
	desc := job.snapshot()
	s.mu.Unlock()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.run(job, in)
	}()
	return map[string]any{"ImportTableDescription": desc}, nil
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

func (j *importJob) snapshot() map[string]any {
	out := make(map[string]any, len(j.desc))
	for k, v := range j.desc {
		out[k] = v
	}
	return out
}

func keys(ks []keyElement) []types.KeySchemaElement {
	out := make([]types.KeySchemaElement, len(ks))
	for i, k := range ks {
		out[i] = types.KeySchemaElement{AttributeName: aws.String(k.AttributeName), KeyType: types.KeyType(k.KeyType)}
	}
	return out
}

func sdkThroughput(t *throughput) *types.ProvisionedThroughput {
	if t == nil {
		return nil
	}
	return &types.ProvisionedThroughput{ReadCapacityUnits: aws.Int64(t.ReadCapacityUnits), WriteCapacityUnits: aws.Int64(t.WriteCapacityUnits)}
}

func (s *Server) describeImport(body []byte) (any, error) {
	var in struct{ ImportArn string }
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, apiError{"SerializationException", err.Error()}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	job, ok := s.imports[in.ImportArn]
	if !ok {
		return nil, apiError{"ImportNotFoundException", "no import " + in.ImportArn}
	}
	return map[string]any{"ImportTableDescription": job.snapshot()}, nil
}

// update changes the job's description under the lock.
func (s *Server) update(job *importJob, fn func(d map[string]any)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fn(job.desc)
}

// run imports the files and ends the job COMPLETED or FAILED.
func (s *Server) run(job *importJob, in importRequest) {
	ctx := s.ctx
	src := in.S3BucketSource
	if s.opts.BeforeImport != nil {
		s.opts.BeforeImport(src.S3Bucket, src.S3KeyPrefix)
	}
	table := in.TableCreationParameters.TableName
	var processed, imported, errCount, size int64
	progress := func() {
		s.update(job, func(d map[string]any) {
			d["ProcessedItemCount"], d["ImportedItemCount"], d["ErrorCount"], d["ProcessedSizeBytes"] = processed, imported, errCount, size
		})
	}
	fail := func(err error) {
		_, _ = s.opts.DynamoDB.DeleteTable(context.WithoutCancel(ctx), &dynamodb.DeleteTableInput{TableName: aws.String(table)})
		s.update(job, func(d map[string]any) {
			d["ImportStatus"], d["FailureCode"], d["FailureMessage"] = "FAILED", "InvalidInput", err.Error()
			d["EndTime"] = float64(time.Now().UnixMilli()) / 1000
		})
	}
	p := awss3.NewListObjectsV2Paginator(s.opts.S3, &awss3.ListObjectsV2Input{Bucket: aws.String(src.S3Bucket), Prefix: aws.String(src.S3KeyPrefix)})
	var batch []types.WriteRequest
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		req := map[string][]types.WriteRequest{table: batch}
		for len(req) > 0 {
			out, err := s.opts.DynamoDB.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: req})
			if err != nil {
				return err
			}
			req = out.UnprocessedItems
		}
		imported += int64(len(batch))
		batch = batch[:0]
		progress()
		return nil
	}
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			fail(fmt.Errorf("list s3://%s/%s: %w", src.S3Bucket, src.S3KeyPrefix, err))
			return
		}
		for _, o := range page.Contents {
			err := s.readObject(ctx, src.S3Bucket, aws.ToString(o.Key), in.InputCompressionType, func(line string) error {
				processed++
				size += int64(len(line))
				item, ok := parseLine(line)
				if !ok {
					errCount++
					return nil
				}
				batch = append(batch, types.WriteRequest{PutRequest: &types.PutRequest{Item: item}})
				if len(batch) == 25 {
					return flush()
				}
				return nil
			})
			if err != nil {
				fail(fmt.Errorf("s3://%s/%s: %w", src.S3Bucket, aws.ToString(o.Key), err))
				return
			}
		}
	}
	if err := flush(); err != nil {
		fail(err)
		return
	}
	progress()
	s.update(job, func(d map[string]any) {
		d["ImportStatus"], d["EndTime"] = "COMPLETED", float64(time.Now().UnixMilli())/1000
	})
}

func (s *Server) readObject(ctx context.Context, bucket, key, compression string, fn func(string) error) error {
	out, err := s.opts.S3.GetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return err
	}
	defer out.Body.Close()
	var r io.Reader = out.Body
	if compression == "GZIP" {
		gz, err := gzip.NewReader(out.Body)
		if err != nil {
			return fmt.Errorf("not gzip: %w", err)
		}
		r = gz
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if err := fn(sc.Text()); err != nil {
			return err
		}
	}
	return sc.Err()
}

// parseLine reads {"Item":{...}}; ok is false for anything else.
func parseLine(line string) (map[string]types.AttributeValue, bool) {
	var doc map[string]json.RawMessage
	if err := json.Unmarshal([]byte(line), &doc); err != nil || len(doc) != 1 || doc["Item"] == nil {
		return nil, false
	}
	item, err := ddbjson.ToDynamoDB(string(doc["Item"]))
	return item, err == nil
}
