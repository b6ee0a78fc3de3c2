// Package s3 is the Amazon S3 storage backend (and S3-compatible stores that honour
// conditional writes: versitygw, MinIO).
//
// Objects appear atomically: a body up to Options.PartSize goes in one PutObject, a larger
// one in a multipart upload that becomes visible only when completed. Create sends
// If-None-Match: * so S3 itself refuses to replace an existing object, even one written a
// moment ago by another process. Memory per write is bounded by PartSize: bodies are read
// part by part, never whole.
package s3

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/ddbtape/ddbtape/storage"
)

var _ storage.Bucket = (*Bucket)(nil)

// API is the part of the S3 client the backend uses; *s3.Client implements it.
type API interface {
	PutObject(ctx context.Context, in *awss3.PutObjectInput, optFns ...func(*awss3.Options)) (*awss3.PutObjectOutput, error)
	GetObject(ctx context.Context, in *awss3.GetObjectInput, optFns ...func(*awss3.Options)) (*awss3.GetObjectOutput, error)
	ListObjectsV2(ctx context.Context, in *awss3.ListObjectsV2Input, optFns ...func(*awss3.Options)) (*awss3.ListObjectsV2Output, error)
	DeleteObject(ctx context.Context, in *awss3.DeleteObjectInput, optFns ...func(*awss3.Options)) (*awss3.DeleteObjectOutput, error)
	CreateMultipartUpload(ctx context.Context, in *awss3.CreateMultipartUploadInput, optFns ...func(*awss3.Options)) (*awss3.CreateMultipartUploadOutput, error)
	UploadPart(ctx context.Context, in *awss3.UploadPartInput, optFns ...func(*awss3.Options)) (*awss3.UploadPartOutput, error)
	CompleteMultipartUpload(ctx context.Context, in *awss3.CompleteMultipartUploadInput, optFns ...func(*awss3.Options)) (*awss3.CompleteMultipartUploadOutput, error)
	AbortMultipartUpload(ctx context.Context, in *awss3.AbortMultipartUploadInput, optFns ...func(*awss3.Options)) (*awss3.AbortMultipartUploadOutput, error)
	// HeadObject tells an object that exists from one that does not, when a conditional
	// write into a locked bucket is refused with 403 instead of 412 (see writeError).
	HeadObject(ctx context.Context, in *awss3.HeadObjectInput, optFns ...func(*awss3.Options)) (*awss3.HeadObjectOutput, error)
	GetObjectLockConfiguration(ctx context.Context, in *awss3.GetObjectLockConfigurationInput, optFns ...func(*awss3.Options)) (*awss3.GetObjectLockConfigurationOutput, error)
	GetObjectRetention(ctx context.Context, in *awss3.GetObjectRetentionInput, optFns ...func(*awss3.Options)) (*awss3.GetObjectRetentionOutput, error)
}

const (
	// DefaultPartSize is the multipart threshold and part size when Options leaves it 0.
	DefaultPartSize = 16 << 20
	// MinPartSize is S3's smallest part (but the last); smaller settings are raised to it.
	MinPartSize = 5 << 20
)

// Options are the per-bucket settings of writes.
type Options struct {
	// SSE is the server-side encryption of new objects: "" (the bucket's default),
	// "AES256" (SSE-S3) or "aws:kms" (SSE-KMS).
	SSE string
	// SSEKMSKeyID is the KMS key for "aws:kms"; empty means the account's aws/s3 key.
	SSEKMSKeyID string
	// PartSize is the largest body sent in one PutObject and the part size of larger ones;
	// 0 means DefaultPartSize. It bounds the memory of one write.
	PartSize int64
	// Lock is the Object Lock retention of sealed objects (storage.Sealed) stored with
	// Create; the zero Lock stores them without one. See lock.go.
	Lock Lock
}

// Validate reports settings S3 would refuse, in the terms of the command line.
func (o Options) Validate() error {
	switch o.SSE {
	case "", string(types.ServerSideEncryptionAes256), string(types.ServerSideEncryptionAwsKms):
	default:
		return fmt.Errorf("unsupported S3 server-side encryption %q: use AES256 or aws:kms", o.SSE)
	}
	if o.SSEKMSKeyID != "" && o.SSE != string(types.ServerSideEncryptionAwsKms) {
		return fmt.Errorf("an S3 KMS key id needs server-side encryption aws:kms, not %q", o.SSE)
	}
	if o.PartSize < 0 {
		return fmt.Errorf("S3 part size %d is negative", o.PartSize)
	}
	return o.Lock.Validate()
}

// Bucket stores objects under a prefix of an S3 bucket.
type Bucket struct {
	client API
	bucket string
	prefix string
	opts   Options
	now    func() time.Time

	lockMu  sync.Mutex
	lockCfg *storage.LockConfig // the bucket's Object Lock setting, once read
}

// New returns a bucket over client. prefix is "" or ends in "/" (as storage.ParseURL gives
// it); keys of the storage.Bucket are relative to it.
func New(client API, bucket, prefix string, opts Options) *Bucket {
	switch {
	case opts.PartSize == 0:
		opts.PartSize = DefaultPartSize
	case opts.PartSize < MinPartSize:
		opts.PartSize = MinPartSize
	}
	return &Bucket{client: client, bucket: bucket, prefix: prefix, opts: opts, now: time.Now}
}

// NewFromLocation returns the bucket a parsed s3:// destination names.
func NewFromLocation(client API, loc storage.Location, opts Options) (*Bucket, error) {
	if loc.Scheme != "s3" {
		return nil, fmt.Errorf("destination %s is not an s3:// URL", loc)
	}
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	return New(client, loc.Bucket, loc.Prefix, opts), nil
}

// URL is the s3:// URL of key, for messages.
func (b *Bucket) URL(key string) string { return "s3://" + b.bucket + "/" + b.prefix + key }

// Create stores r under key only if no object has that key (If-None-Match: *); otherwise
// it returns an error wrapping storage.ErrExists and the existing object is untouched.
func (b *Bucket) Create(ctx context.Context, key string, r io.Reader) error {
	if err := b.write(ctx, key, r, storage.IfAbsent); err != nil {
		return fmt.Errorf("create %s: %w", b.URL(key), err)
	}
	return nil
}

// Put stores r under key, replacing any existing object atomically.
func (b *Bucket) Put(ctx context.Context, key string, r io.Reader) error {
	if err := b.write(ctx, key, r, storage.Replace); err != nil {
		return fmt.Errorf("put %s: %w", b.URL(key), err)
	}
	return nil
}

// Open returns the object's content; an error wrapping storage.ErrNotFound when it is
// missing. The caller closes it.
func (b *Bucket) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	if key == "" {
		return nil, errors.New("open: empty key")
	}
	out, err := b.client.GetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String(b.bucket), Key: aws.String(b.prefix + key)})
	if err != nil {
		if isNotFound(err) {
			return nil, fmt.Errorf("open %s: %w", b.URL(key), storage.ErrNotFound)
		}
		return nil, fmt.Errorf("open %s: %w", b.URL(key), explain(b.bucket, err))
	}
	return out.Body, nil
}

// List returns every object whose key starts with prefix, sorted by key, reading every
// page of ListObjectsV2. Keys ending in "/" (folder markers made by consoles) are skipped.
func (b *Bucket) List(ctx context.Context, prefix string) ([]storage.Object, error) {
	objs := []storage.Object{}
	p := awss3.NewListObjectsV2Paginator(b.client, &awss3.ListObjectsV2Input{
		Bucket: aws.String(b.bucket),
		Prefix: aws.String(b.prefix + prefix),
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list %s: %w", b.URL(prefix), explain(b.bucket, err))
		}
		for _, o := range page.Contents {
			key, ok := strings.CutPrefix(aws.ToString(o.Key), b.prefix)
			if !ok || key == "" || strings.HasSuffix(key, "/") {
				continue
			}
			objs = append(objs, storage.Object{Key: key, Size: aws.ToInt64(o.Size), ModTime: aws.ToTime(o.LastModified)})
		}
	}
	// S3 lists in byte order already; S3-compatible stores over a file system may not.
	sort.Slice(objs, func(i, j int) bool { return objs[i].Key < objs[j].Key })
	return objs, nil
}

// Delete removes the object; a missing object is not an error. An object held under an
// Object Lock retention is refused with an error wrapping storage.ErrLocked by a store
// that keeps one version per key (versitygw). S3 itself keeps versions in a bucket with
// Object Lock: there a delete hides the object behind a delete marker and its locked
// version stays until the retention ends and a lifecycle rule expires it, so callers that
// must not hide a locked object check its retention first (storage.RetentionOf).
func (b *Bucket) Delete(ctx context.Context, key string) error {
	if key == "" {
		return errors.New("delete: empty key")
	}
	_, err := b.client.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: aws.String(b.bucket), Key: aws.String(b.prefix + key)})
	if err != nil && !isNotFound(err) {
		if apiCode(err) == "AccessDenied" {
			if r, rerr := b.Retention(ctx, key); rerr == nil && r.Holds(b.now()) {
				return fmt.Errorf("delete %s: %w until %s (%s)", b.URL(key), storage.ErrLocked, r.Until.UTC().Format(time.RFC3339), r.Mode)
			}
		}
		return fmt.Errorf("delete %s: %w", b.URL(key), explain(b.bucket, err))
	}
	return nil
}

func apiCode(err error) string {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		return apiErr.ErrorCode()
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

// isNotFound is true for a missing key. A missing bucket is not "not found": it is a
// configuration error the operator must see.
func isNotFound(err error) bool {
	var nsk *types.NoSuchKey
	var nf *types.NotFound
	if errors.As(err, &nsk) || errors.As(err, &nf) {
		return true
	}
	return httpStatus(err) == http.StatusNotFound && apiCode(err) != "NoSuchBucket"
}

// isPreconditionFailed is true when If-None-Match: * found an object at the key.
func isPreconditionFailed(err error) bool {
	return apiCode(err) == "PreconditionFailed" || httpStatus(err) == http.StatusPreconditionFailed
}

// ErrNoSuchBucket is returned (wrapped) when the destination's bucket does not exist.
var ErrNoSuchBucket = errors.New("S3 bucket does not exist: create it, or fix the bucket name in the destination URL")

// ErrAccessDenied is returned (wrapped) when S3 refuses the credentials or their rights.
var ErrAccessDenied = errors.New("S3 refused the request: check the role's policy (deploy/iam/) and the bucket policy, or give the destination credentials of its own (--s3-profile, --s3-role-arn; s3.profile, s3.role-arn)")

func explain(bucket string, err error) error {
	switch apiCode(err) {
	case "NoSuchBucket":
		return fmt.Errorf("%s: %w: %w", bucket, ErrNoSuchBucket, err)
	case "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "AllAccessDisabled":
		return fmt.Errorf("%s: %w: %w", bucket, ErrAccessDenied, err)
	}
	return err
}
