package s3local

// These tests pin down how versitygw behaves where storage/s3 depends on it, so a change of
// version that breaks an assumption fails here first.

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
)

func TestMain(m *testing.M) { Main(m) }

func put(ctx context.Context, c *awss3.Client, bucket, key, body string, ifNoneMatch bool) error {
	in := &awss3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: strings.NewReader(body)}
	if ifNoneMatch {
		in.IfNoneMatch = aws.String("*")
	}
	_, err := c.PutObject(ctx, in)
	return err
}

func get(t *testing.T, c *awss3.Client, bucket, key string) string {
	t.Helper()
	out, err := c.GetObject(t.Context(), &awss3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	defer out.Body.Close()
	data, err := io.ReadAll(out.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func status(err error) (int, string) {
	var re *awshttp.ResponseError
	var apiErr smithy.APIError
	code, st := "", 0
	if errors.As(err, &re) {
		st = re.HTTPStatusCode()
	}
	if errors.As(err, &apiErr) {
		code = apiErr.ErrorCode()
	}
	return st, code
}

func TestVersitygw_PutWithIfNoneMatchRefusesAnExistingKeyWith412(t *testing.T) {
	srv := Shared(t)
	c, bucket := srv.Client(), srv.NewBucket(t)
	ctx := t.Context()
	if err := put(ctx, c, bucket, "a/b=1/c_d.json", "first", true); err != nil {
		t.Fatalf("conditional put of a new key: %v", err)
	}
	err := put(ctx, c, bucket, "a/b=1/c_d.json", "second", true)
	if st, code := status(err); st != http.StatusPreconditionFailed || code != "PreconditionFailed" {
		t.Fatalf("conditional put of an existing key: status %d code %q (%v), want 412 PreconditionFailed", st, code, err)
	}
	if got := get(t, c, bucket, "a/b=1/c_d.json"); got != "first" {
		t.Fatalf("object reads %q after refused put, want %q", got, "first")
	}
}

func TestVersitygw_CompleteMultipartUploadWithIfNoneMatchRefusesAnExistingKey(t *testing.T) {
	srv := Shared(t)
	c, bucket := srv.Client(), srv.NewBucket(t)
	ctx := t.Context()
	if err := put(ctx, c, bucket, "seg.parquet", "first", false); err != nil {
		t.Fatal(err)
	}
	up, err := c.CreateMultipartUpload(ctx, &awss3.CreateMultipartUploadInput{Bucket: aws.String(bucket), Key: aws.String("seg.parquet")})
	if err != nil {
		t.Fatal(err)
	}
	part, err := c.UploadPart(ctx, &awss3.UploadPartInput{
		Bucket: aws.String(bucket), Key: aws.String("seg.parquet"), UploadId: up.UploadId,
		PartNumber: aws.Int32(1), Body: bytes.NewReader([]byte("second")),
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.CompleteMultipartUpload(ctx, &awss3.CompleteMultipartUploadInput{
		Bucket: aws.String(bucket), Key: aws.String("seg.parquet"), UploadId: up.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{{ETag: part.ETag, PartNumber: aws.Int32(1)}}},
		IfNoneMatch:     aws.String("*"),
	})
	if st, code := status(err); st != http.StatusPreconditionFailed || code != "PreconditionFailed" {
		t.Fatalf("conditional complete over an existing key: status %d code %q (%v), want 412 PreconditionFailed", st, code, err)
	}
	if got := get(t, c, bucket, "seg.parquet"); got != "first" {
		t.Fatalf("object reads %q after refused complete, want %q", got, "first")
	}
}

func TestVersitygw_GetOfAMissingKeyIsNoSuchKey(t *testing.T) {
	srv := Shared(t)
	c, bucket := srv.Client(), srv.NewBucket(t)
	if err := put(t.Context(), c, bucket, "dir/file", "x", false); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"missing", "dir", "dir/file/below"} {
		_, err := c.GetObject(t.Context(), &awss3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
		var nsk *types.NoSuchKey
		if st, _ := status(err); !errors.As(err, &nsk) && st != http.StatusNotFound {
			t.Errorf("get %q: %v, want NoSuchKey or 404", key, err)
		}
	}
}

func TestServer_PauseRefusesConnectionsAndResumeKeepsPortAndData(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	srv, err := Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	c, bucket := srv.Client(), srv.NewBucket(t)
	if err := put(ctx, c, bucket, "k", "kept", false); err != nil {
		t.Fatal(err)
	}
	endpoint := srv.Endpoint

	srv.Pause()
	noRetry := func(o *awss3.Options) { o.RetryMaxAttempts = 1 }
	_, err = c.ListBuckets(ctx, &awss3.ListBucketsInput{}, noRetry)
	if err == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("request to a paused server: %v, want connection refused", err)
	}

	if err := srv.Resume(ctx); err != nil {
		t.Fatal(err)
	}
	if srv.Endpoint != endpoint {
		t.Fatalf("endpoint moved from %s to %s", endpoint, srv.Endpoint)
	}
	if got := get(t, c, bucket, "k"); got != "kept" {
		t.Fatalf("after resume the object reads %q, want %q", got, "kept")
	}
	if err := srv.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	if got := get(t, c, bucket, "k"); got != "kept" {
		t.Fatalf("after restart the object reads %q, want %q", got, "kept")
	}
}

func TestServer_NewBucketNamesAreValidAndUniqueForLongTestNames(t *testing.T) {
	srv := Shared(t)
	seen := map[string]bool{}
	for range 3 {
		t.Run(strings.Repeat("Very_Long Sub/Test Name ", 5), func(t *testing.T) {
			name := srv.NewBucket(t)
			if len(name) > 63 || seen[name] {
				t.Fatalf("bucket name %q: too long or repeated", name)
			}
			seen[name] = true
		})
	}
}

func TestServer_EnvPointsTheSDKChainAtTheServer(t *testing.T) {
	srv := Shared(t)
	want := map[string]string{
		"AWS_ENDPOINT_URL_S3":   srv.Endpoint,
		"AWS_REGION":            Region,
		"AWS_ACCESS_KEY_ID":     AccessKeyID,
		"AWS_SECRET_ACCESS_KEY": SecretAccessKey,
		"DDBTAPE_S3_PATH_STYLE": "true",
	}
	got := map[string]string{}
	for _, kv := range srv.Env() {
		k, v, _ := strings.Cut(kv, "=")
		got[k] = v
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("Env %s = %q, want %q", k, got[k], v)
		}
	}
}

// storage/s3 relies on each of these answers of a bucket with Object Lock (see its
// lock.go): a locked object's delete and overwrite are refused with 403 AccessDenied, a
// conditional create over it too (the lock is checked before If-None-Match), an object
// written without a retention is deleted as usual, and the retention ends when it says.
func TestVersitygw_ObjectLockRefusesDeleteAndOverwriteUntilTheRetentionEnds(t *testing.T) {
	srv := Shared(t)
	c := srv.Client()
	bucket := srv.NewLockedBucket(t)
	ctx := t.Context()
	cfg, err := c.GetObjectLockConfiguration(ctx, &awss3.GetObjectLockConfigurationInput{Bucket: aws.String(bucket)})
	if err != nil || cfg.ObjectLockConfiguration == nil || cfg.ObjectLockConfiguration.ObjectLockEnabled != types.ObjectLockEnabledEnabled {
		t.Fatalf("lock configuration of a bucket created with Object Lock: %+v, %v", cfg, err)
	}
	until := time.Now().Add(3 * time.Second).Truncate(time.Second).Add(time.Second)
	if _, err := c.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("locked"), Body: strings.NewReader("v1"),
		ObjectLockMode: types.ObjectLockModeCompliance, ObjectLockRetainUntilDate: aws.Time(until)}); err != nil {
		t.Fatalf("put with a retention: %v", err)
	}
	ret, err := c.GetObjectRetention(ctx, &awss3.GetObjectRetentionInput{Bucket: aws.String(bucket), Key: aws.String("locked")})
	if err != nil || ret.Retention.Mode != types.ObjectLockRetentionModeCompliance || !aws.ToTime(ret.Retention.RetainUntilDate).Equal(until) {
		t.Fatalf("retention = %+v, %v; want COMPLIANCE until %s", ret, err, until)
	}
	_, err = c.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String("locked")})
	if st, code := status(err); st != http.StatusForbidden || code != "AccessDenied" {
		t.Errorf("delete of a locked object: %v (status %d, code %s), want 403 AccessDenied", err, st, code)
	}
	if st, code := status(put(ctx, c, bucket, "locked", "v2", false)); st != http.StatusForbidden || code != "AccessDenied" {
		t.Errorf("overwrite of a locked object: status %d code %s, want 403 AccessDenied", st, code)
	}
	if st, code := status(put(ctx, c, bucket, "locked", "v2", true)); st != http.StatusForbidden || code != "AccessDenied" {
		t.Errorf("conditional create over a locked object: status %d code %s, want 403 AccessDenied (the lock is checked first)", st, code)
	}
	if got := get(t, c, bucket, "locked"); got != "v1" {
		t.Errorf("locked object holds %q, want v1", got)
	}
	_, err = c.GetObjectRetention(ctx, &awss3.GetObjectRetentionInput{Bucket: aws.String(bucket), Key: aws.String("missing")})
	if st, code := status(err); st != http.StatusNotFound {
		t.Errorf("retention of a missing object: status %d code %s, want 404", st, code)
	}

	if err := put(ctx, c, bucket, "plain", "x", false); err != nil {
		t.Fatal(err)
	}
	_, err = c.GetObjectRetention(ctx, &awss3.GetObjectRetentionInput{Bucket: aws.String(bucket), Key: aws.String("plain")})
	if _, code := status(err); code != "NoSuchObjectLockConfiguration" {
		t.Errorf("retention of an object written without one: %v, want NoSuchObjectLockConfiguration", err)
	}
	if err := put(ctx, c, bucket, "plain", "y", false); err != nil {
		t.Errorf("overwrite of an object without a retention: %v", err)
	}
	if _, err := c.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String("plain")}); err != nil {
		t.Errorf("delete of an object without a retention: %v", err)
	}

	time.Sleep(time.Until(until) + 100*time.Millisecond)
	if _, err := c.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String("locked")}); err != nil {
		t.Errorf("delete after the retention ended: %v", err)
	}

	plain := srv.NewBucket(t)
	_, err = c.GetObjectLockConfiguration(ctx, &awss3.GetObjectLockConfigurationInput{Bucket: aws.String(plain)})
	if _, code := status(err); code != "ObjectLockConfigurationNotFoundError" {
		t.Errorf("lock configuration of a bucket without Object Lock: %v, want ObjectLockConfigurationNotFoundError", err)
	}
}

// A body whose x-amz-checksum-sha256 differs is refused with BadDigest, and a matching
// one is kept with the object.
func TestVersitygw_ChecksumSHA256IsCheckedAndKept(t *testing.T) {
	srv := Shared(t)
	c := srv.Client()
	bucket := srv.NewBucket(t)
	ctx := t.Context()
	const good = "LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ=" // SHA-256 of "hello"
	_, err := c.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("k"), Body: strings.NewReader("hellO"),
		ChecksumAlgorithm: types.ChecksumAlgorithmSha256, ChecksumSHA256: aws.String(good)})
	if _, code := status(err); code != "BadDigest" {
		t.Errorf("put of a body that differs from its SHA-256: %v, want BadDigest", err)
	}
	if _, err := c.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("k"), Body: strings.NewReader("hello"),
		ChecksumAlgorithm: types.ChecksumAlgorithmSha256, ChecksumSHA256: aws.String(good)}); err != nil {
		t.Fatal(err)
	}
	head, err := c.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String("k"), ChecksumMode: types.ChecksumModeEnabled})
	if err != nil || aws.ToString(head.ChecksumSHA256) != good {
		t.Errorf("HeadObject checksum = %q, %v; want %s", aws.ToString(head.ChecksumSHA256), err, good)
	}
}
