package s3

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/ddbtape/ddbtape/storage"
)

// fakeAPI is an API whose calls are function fields; a nil field fails the test's call.
type fakeAPI struct {
	putObject func(*awss3.PutObjectInput) (*awss3.PutObjectOutput, error)
	create    func(*awss3.CreateMultipartUploadInput) (*awss3.CreateMultipartUploadOutput, error)
	upload    func(*awss3.UploadPartInput) (*awss3.UploadPartOutput, error)
	complete  func(*awss3.CompleteMultipartUploadInput) (*awss3.CompleteMultipartUploadOutput, error)
	aborted   []string
}

var errUnexpected = errors.New("unexpected call")

func (f *fakeAPI) PutObject(_ context.Context, in *awss3.PutObjectInput, _ ...func(*awss3.Options)) (*awss3.PutObjectOutput, error) {
	if f.putObject == nil {
		return nil, errUnexpected
	}
	return f.putObject(in)
}

func (f *fakeAPI) GetObject(context.Context, *awss3.GetObjectInput, ...func(*awss3.Options)) (*awss3.GetObjectOutput, error) {
	return nil, errUnexpected
}

func (f *fakeAPI) ListObjectsV2(context.Context, *awss3.ListObjectsV2Input, ...func(*awss3.Options)) (*awss3.ListObjectsV2Output, error) {
	return nil, errUnexpected
}

func (f *fakeAPI) DeleteObject(context.Context, *awss3.DeleteObjectInput, ...func(*awss3.Options)) (*awss3.DeleteObjectOutput, error) {
	return nil, errUnexpected
}

func (f *fakeAPI) CreateMultipartUpload(_ context.Context, in *awss3.CreateMultipartUploadInput, _ ...func(*awss3.Options)) (*awss3.CreateMultipartUploadOutput, error) {
	if f.create == nil {
		return nil, errUnexpected
	}
	return f.create(in)
}

func (f *fakeAPI) UploadPart(_ context.Context, in *awss3.UploadPartInput, _ ...func(*awss3.Options)) (*awss3.UploadPartOutput, error) {
	if f.upload == nil {
		return nil, errUnexpected
	}
	// The body must be read now: the backend reuses its buffer for the next part.
	if _, err := io.Copy(io.Discard, in.Body); err != nil {
		return nil, err
	}
	return f.upload(in)
}

func (f *fakeAPI) CompleteMultipartUpload(_ context.Context, in *awss3.CompleteMultipartUploadInput, _ ...func(*awss3.Options)) (*awss3.CompleteMultipartUploadOutput, error) {
	if f.complete == nil {
		return nil, errUnexpected
	}
	return f.complete(in)
}

func (f *fakeAPI) AbortMultipartUpload(_ context.Context, in *awss3.AbortMultipartUploadInput, _ ...func(*awss3.Options)) (*awss3.AbortMultipartUploadOutput, error) {
	f.aborted = append(f.aborted, aws.ToString(in.UploadId))
	return &awss3.AbortMultipartUploadOutput{}, nil
}

func (f *fakeAPI) HeadObject(context.Context, *awss3.HeadObjectInput, ...func(*awss3.Options)) (*awss3.HeadObjectOutput, error) {
	return nil, errUnexpected
}

func (f *fakeAPI) GetObjectLockConfiguration(context.Context, *awss3.GetObjectLockConfigurationInput, ...func(*awss3.Options)) (*awss3.GetObjectLockConfigurationOutput, error) {
	return nil, errUnexpected
}

func (f *fakeAPI) GetObjectRetention(context.Context, *awss3.GetObjectRetentionInput, ...func(*awss3.Options)) (*awss3.GetObjectRetentionOutput, error) {
	return nil, errUnexpected
}

func multipartFake() *fakeAPI {
	return &fakeAPI{
		create: func(*awss3.CreateMultipartUploadInput) (*awss3.CreateMultipartUploadOutput, error) {
			return &awss3.CreateMultipartUploadOutput{UploadId: aws.String("up-1")}, nil
		},
		upload: func(in *awss3.UploadPartInput) (*awss3.UploadPartOutput, error) {
			return &awss3.UploadPartOutput{ETag: aws.String("etag")}, nil
		},
		complete: func(*awss3.CompleteMultipartUploadInput) (*awss3.CompleteMultipartUploadOutput, error) {
			return &awss3.CompleteMultipartUploadOutput{}, nil
		},
	}
}

func TestOptions_Validate(t *testing.T) {
	tests := []struct {
		opts    Options
		wantErr string
	}{
		{Options{}, ""},
		{Options{SSE: "AES256"}, ""},
		{Options{SSE: "aws:kms", SSEKMSKeyID: "arn:aws:kms:eu-west-1:1:key/k"}, ""},
		{Options{SSE: "aws:kms:dsse"}, `unsupported S3 server-side encryption "aws:kms:dsse": use AES256 or aws:kms`},
		{Options{SSE: "AES256", SSEKMSKeyID: "k"}, "needs server-side encryption aws:kms"},
		{Options{PartSize: -1}, "negative"},
	}
	for _, tt := range tests {
		err := tt.opts.Validate()
		if (err == nil) != (tt.wantErr == "") || err != nil && !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("%+v.Validate() = %v, want %q", tt.opts, err, tt.wantErr)
		}
	}
}

func TestNew_PartSizeDefaultsAndHasAFloor(t *testing.T) {
	for in, want := range map[int64]int64{0: DefaultPartSize, 1: MinPartSize, 64 << 20: 64 << 20} {
		if got := New(&fakeAPI{}, "b", "", Options{PartSize: in}).opts.PartSize; got != want {
			t.Errorf("PartSize %d became %d, want %d", in, got, want)
		}
	}
}

func TestBucket_EncryptionSettingsReachPutAndMultipartUploads(t *testing.T) {
	f := multipartFake()
	var putIn *awss3.PutObjectInput
	var createIn *awss3.CreateMultipartUploadInput
	f.putObject = func(in *awss3.PutObjectInput) (*awss3.PutObjectOutput, error) {
		putIn = in
		return &awss3.PutObjectOutput{}, nil
	}
	inner := f.create
	f.create = func(in *awss3.CreateMultipartUploadInput) (*awss3.CreateMultipartUploadOutput, error) {
		createIn = in
		return inner(in)
	}
	b := New(f, "bkt", "pre/", Options{SSE: "aws:kms", SSEKMSKeyID: "key-1", PartSize: MinPartSize})
	if err := b.Put(t.Context(), "small", strings.NewReader("x")); err != nil {
		t.Fatal(err)
	}
	if err := b.Put(t.Context(), "large", bytes.NewReader(make([]byte, MinPartSize+1))); err != nil {
		t.Fatal(err)
	}
	if putIn == nil || putIn.ServerSideEncryption != types.ServerSideEncryptionAwsKms || aws.ToString(putIn.SSEKMSKeyId) != "key-1" ||
		aws.ToString(putIn.Key) != "pre/small" || putIn.IfNoneMatch != nil {
		t.Errorf("PutObject input = %+v, want SSE-KMS key-1, key pre/small, unconditional", putIn)
	}
	if createIn == nil || createIn.ServerSideEncryption != types.ServerSideEncryptionAwsKms || aws.ToString(createIn.SSEKMSKeyId) != "key-1" {
		t.Errorf("CreateMultipartUpload input = %+v, want SSE-KMS key-1", createIn)
	}
}

func TestBucket_MultipartSplitsIntoPartsOfPartSize(t *testing.T) {
	f := multipartFake()
	var sizes []int64
	f.upload = func(in *awss3.UploadPartInput) (*awss3.UploadPartOutput, error) {
		sizes = append(sizes, aws.ToInt64(in.ContentLength))
		return &awss3.UploadPartOutput{ETag: aws.String("e")}, nil
	}
	var completeIn *awss3.CompleteMultipartUploadInput
	f.complete = func(in *awss3.CompleteMultipartUploadInput) (*awss3.CompleteMultipartUploadOutput, error) {
		completeIn = in
		return &awss3.CompleteMultipartUploadOutput{}, nil
	}
	b := New(f, "bkt", "", Options{PartSize: MinPartSize})
	if err := b.Create(t.Context(), "k", bytes.NewReader(make([]byte, 2*MinPartSize+7))); err != nil {
		t.Fatal(err)
	}
	if want := []int64{MinPartSize, MinPartSize, 7}; len(sizes) != 3 || sizes[0] != want[0] || sizes[1] != want[1] || sizes[2] != want[2] {
		t.Fatalf("part sizes = %v, want %v", sizes, want)
	}
	if completeIn == nil || aws.ToString(completeIn.IfNoneMatch) != "*" || len(completeIn.MultipartUpload.Parts) != 3 ||
		aws.ToInt32(completeIn.MultipartUpload.Parts[2].PartNumber) != 3 {
		t.Fatalf("CompleteMultipartUpload input = %+v, want If-None-Match * and parts 1..3", completeIn)
	}
}

func TestBucket_FailedMultipartUploadIsAbortedEvenWhenTheContextIsCancelled(t *testing.T) {
	f := multipartFake()
	ctx, cancel := context.WithCancel(t.Context())
	f.upload = func(in *awss3.UploadPartInput) (*awss3.UploadPartOutput, error) {
		if aws.ToInt32(in.PartNumber) == 2 {
			cancel()
			return nil, context.Canceled
		}
		return &awss3.UploadPartOutput{ETag: aws.String("e")}, nil
	}
	b := New(f, "bkt", "", Options{PartSize: MinPartSize})
	if err := b.Put(ctx, "k", bytes.NewReader(make([]byte, 2*MinPartSize))); !errors.Is(err, context.Canceled) {
		t.Fatalf("Put = %v, want context.Canceled", err)
	}
	if len(f.aborted) != 1 || f.aborted[0] != "up-1" {
		t.Fatalf("aborted uploads = %v, want [up-1]", f.aborted)
	}
}

type apiError struct{ code string }

func (e apiError) Error() string                 { return e.code }
func (e apiError) ErrorCode() string             { return e.code }
func (e apiError) ErrorMessage() string          { return e.code }
func (e apiError) ErrorFault() smithy.ErrorFault { return smithy.FaultServer }

func TestBucket_ClassifiesConditionalWriteErrors(t *testing.T) {
	tests := []struct {
		code       string
		create     bool
		wantExists bool
	}{
		{"PreconditionFailed", true, true},
		// A conflict that outlived the retries: the other writer may still fail, so this
		// is not "exists".
		{"ConditionalRequestConflict", true, false},
		{"InternalError", true, false},
	}
	for _, tt := range tests {
		for _, size := range []int{10, MinPartSize + 1} {
			f := multipartFake()
			f.putObject = func(*awss3.PutObjectInput) (*awss3.PutObjectOutput, error) { return nil, apiError{tt.code} }
			f.complete = func(*awss3.CompleteMultipartUploadInput) (*awss3.CompleteMultipartUploadOutput, error) {
				return nil, apiError{tt.code}
			}
			b := New(f, "bkt", "", Options{PartSize: MinPartSize})
			err := b.Create(t.Context(), "k", bytes.NewReader(make([]byte, size)))
			if err == nil || errors.Is(err, storage.ErrExists) != tt.wantExists {
				t.Errorf("%s on a %d-byte Create: %v, want ErrExists %v", tt.code, size, err, tt.wantExists)
			}
		}
	}
}

func TestNewClient_PathStyleFromOptionOrEnvironmentAndMoreAttempts(t *testing.T) {
	cfg := aws.Config{Region: "us-east-1"}
	t.Setenv(PathStyleEnv, "")
	if NewClient(cfg, ClientOptions{}).Options().UsePathStyle {
		t.Error("path style without option or environment")
	}
	if !NewClient(cfg, ClientOptions{PathStyle: true}).Options().UsePathStyle {
		t.Error("PathStyle option ignored")
	}
	t.Setenv(PathStyleEnv, "true")
	c := NewClient(cfg, ClientOptions{Endpoint: "http://127.0.0.1:9"})
	if !c.Options().UsePathStyle {
		t.Errorf("%s=true ignored", PathStyleEnv)
	}
	if got := aws.ToString(c.Options().BaseEndpoint); got != "http://127.0.0.1:9" {
		t.Errorf("endpoint = %q", got)
	}
	if got := c.Options().Retryer.MaxAttempts(); got != DefaultMaxAttempts {
		t.Errorf("max attempts = %d, want %d", got, DefaultMaxAttempts)
	}
	if !c.Options().Retryer.IsErrorRetryable(apiError{"ConditionalRequestConflict"}) || !c.Options().Retryer.IsErrorRetryable(apiError{"SlowDown"}) {
		t.Error("ConditionalRequestConflict or SlowDown not retryable")
	}
	if c.Options().Retryer.IsErrorRetryable(apiError{"PreconditionFailed"}) {
		t.Error("PreconditionFailed is retryable")
	}
}
