package s3

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/ddbtape/ddbtape/storage"
)

// maxParts is S3's limit on the parts of one upload.
const maxParts = 10_000

// abortTimeout bounds the clean-up of a failed multipart upload, which runs even when the
// write's context was cancelled: parts of an abandoned upload are billed until aborted.
const abortTimeout = 30 * time.Second

// write reads up to PartSize+1 bytes: a body that fits in PartSize goes in one PutObject,
// a longer one in a multipart upload. With storage.IfAbsent the write is conditional on no
// object having the key.
//
// A sealed body (storage.Sealed) is hashed as it is read and refused before anything is
// committed when it differs from its seal; its SHA-256 goes with it as the additional
// checksum (one PutObject) or per part (multipart), so S3 checks what it received too.
// Create of a sealed body carries the Object Lock retention of Options.Lock.
func (b *Bucket) write(ctx context.Context, key string, r io.Reader, mode storage.WriteMode) error {
	ifAbsent := mode == storage.IfAbsent
	if key == "" {
		return errors.New("empty key")
	}
	w := writeSpec{key: key, ifAbsent: ifAbsent}
	if sum, ok := storage.SealOf(r); ok {
		raw, err := hex.DecodeString(sum)
		if err != nil || len(raw) != sha256.Size {
			return fmt.Errorf("sealed with %q, which is not a hex SHA-256", sum)
		}
		w.sha256 = base64.StdEncoding.EncodeToString(raw)
		w.verify = storage.NewVerifier(r, sum)
		r = w.verify
		if ifAbsent && b.opts.Lock.Mode != "" {
			w.lock = &b.opts.Lock
		}
	}
	var head bytes.Buffer
	n, err := io.CopyN(&head, r, b.opts.PartSize+1)
	if err != nil && err != io.EOF {
		return fmt.Errorf("read body: %w", err)
	}
	if n <= b.opts.PartSize {
		if err := w.check(); err != nil {
			return err
		}
		return b.putObject(ctx, w, head.Bytes())
	}
	data := head.Bytes()
	rest := io.MultiReader(bytes.NewReader(bytes.Clone(data[b.opts.PartSize:])), r)
	return b.multipart(ctx, w, data[:b.opts.PartSize], rest)
}

// writeSpec is what one write is asked to do besides storing bytes.
type writeSpec struct {
	key      string
	ifAbsent bool
	sha256   string            // base64, for a sealed body
	verify   *storage.Verifier // hashes a sealed body as it is read
	lock     *Lock             // the retention of a sealed Create
}

// check compares a sealed body, read to its end, with its seal.
func (w writeSpec) check() error {
	if w.verify == nil {
		return nil
	}
	return w.verify.Check()
}

func (w writeSpec) algorithm() types.ChecksumAlgorithm {
	if w.verify != nil {
		return types.ChecksumAlgorithmSha256
	}
	return types.ChecksumAlgorithmCrc32
}

func (b *Bucket) retainUntil() *time.Time {
	return aws.Time(b.now().Add(b.opts.Lock.For).UTC().Truncate(time.Second).Add(time.Second))
}

func (b *Bucket) putObject(ctx context.Context, w writeSpec, data []byte) error {
	in := &awss3.PutObjectInput{
		Bucket:        aws.String(b.bucket),
		Key:           aws.String(b.prefix + w.key),
		Body:          bytes.NewReader(data),
		ContentLength: aws.Int64(int64(len(data))),
	}
	if b.opts.SSE != "" {
		in.ServerSideEncryption = types.ServerSideEncryption(b.opts.SSE)
	}
	if b.opts.SSEKMSKeyID != "" {
		in.SSEKMSKeyId = aws.String(b.opts.SSEKMSKeyID)
	}
	if w.ifAbsent {
		in.IfNoneMatch = aws.String("*")
	}
	if w.sha256 != "" {
		in.ChecksumAlgorithm, in.ChecksumSHA256 = types.ChecksumAlgorithmSha256, aws.String(w.sha256)
	}
	if w.lock != nil {
		in.ObjectLockMode, in.ObjectLockRetainUntilDate = types.ObjectLockMode(w.lock.Mode), b.retainUntil()
	}
	if _, err := b.client.PutObject(ctx, in); err != nil {
		return b.writeError(ctx, err, w)
	}
	return nil
}

// writeError classifies a failed PutObject or CompleteMultipartUpload. A 409
// ConditionalRequestConflict (another conditional write to the key in flight) is not
// ErrExists: the other write may yet fail, and treating it as stored could let a
// checkpoint pass data that is nowhere. The client from NewClient retries it; if it
// persists, it is an error. A conditional write refused with 403 is ErrExists when the
// key holds an object: a store that checks Object Lock before If-None-Match (versitygw)
// answers so for a locked object. BadDigest is a body that differs from its checksum.
func (b *Bucket) writeError(ctx context.Context, err error, w writeSpec) error {
	switch {
	case w.ifAbsent && isPreconditionFailed(err):
		return storage.ErrExists
	case w.ifAbsent && apiCode(err) == "AccessDenied" && b.exists(ctx, w.key):
		return fmt.Errorf("%w (refused with 403: %v)", storage.ErrExists, err)
	case apiCode(err) == "BadDigest":
		return fmt.Errorf("%w: %w", storage.ErrChecksum, err)
	}
	return explain(b.bucket, err)
}

// multipart uploads first and then the rest of the body part by part, reusing one buffer,
// and completes the upload; on any failure it aborts the upload.
func (b *Bucket) multipart(ctx context.Context, w writeSpec, first []byte, rest io.Reader) (err error) {
	key := w.key
	cin := &awss3.CreateMultipartUploadInput{
		Bucket:            aws.String(b.bucket),
		Key:               aws.String(b.prefix + key),
		ChecksumAlgorithm: w.algorithm(),
	}
	if w.lock != nil {
		cin.ObjectLockMode, cin.ObjectLockRetainUntilDate = types.ObjectLockMode(w.lock.Mode), b.retainUntil()
	}
	if b.opts.SSE != "" {
		cin.ServerSideEncryption = types.ServerSideEncryption(b.opts.SSE)
	}
	if b.opts.SSEKMSKeyID != "" {
		cin.SSEKMSKeyId = aws.String(b.opts.SSEKMSKeyID)
	}
	created, err := b.client.CreateMultipartUpload(ctx, cin)
	if err != nil {
		return fmt.Errorf("start multipart upload: %w", explain(b.bucket, err))
	}
	uploadID := created.UploadId
	defer func() {
		if err == nil {
			return
		}
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), abortTimeout)
		defer cancel()
		if _, aerr := b.client.AbortMultipartUpload(actx, &awss3.AbortMultipartUploadInput{
			Bucket: aws.String(b.bucket), Key: aws.String(b.prefix + key), UploadId: uploadID,
		}); aerr != nil {
			err = fmt.Errorf("%w (and abort multipart upload %s: %v)", err, aws.ToString(uploadID), aerr)
		}
	}()

	var parts []types.CompletedPart
	buf := first
	for num := int32(1); ; num++ {
		if num > maxParts {
			return fmt.Errorf("body larger than %d parts of %d bytes: raise the part size", maxParts, b.opts.PartSize)
		}
		up, err := b.client.UploadPart(ctx, &awss3.UploadPartInput{
			Bucket:            aws.String(b.bucket),
			Key:               aws.String(b.prefix + key),
			UploadId:          uploadID,
			PartNumber:        aws.Int32(num),
			Body:              bytes.NewReader(buf),
			ContentLength:     aws.Int64(int64(len(buf))),
			ChecksumAlgorithm: w.algorithm(),
		})
		if err != nil {
			return fmt.Errorf("upload part %d: %w", num, explain(b.bucket, err))
		}
		parts = append(parts, types.CompletedPart{ETag: up.ETag, PartNumber: aws.Int32(num), ChecksumCRC32: up.ChecksumCRC32, ChecksumSHA256: up.ChecksumSHA256})
		// Later parts reuse the head buffer (the byte read past the first part was
		// copied out), so a write holds about one part in memory.
		n, rerr := io.ReadFull(rest, buf[:b.opts.PartSize])
		if rerr == io.EOF {
			break
		}
		if rerr != nil && rerr != io.ErrUnexpectedEOF {
			return fmt.Errorf("read body: %w", rerr)
		}
		buf = buf[:n]
	}
	// Every byte was read: a sealed body that differs is aborted before it appears.
	if err := w.check(); err != nil {
		return err
	}

	in := &awss3.CompleteMultipartUploadInput{
		Bucket:          aws.String(b.bucket),
		Key:             aws.String(b.prefix + key),
		UploadId:        uploadID,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts},
	}
	if w.ifAbsent {
		in.IfNoneMatch = aws.String("*")
	}
	if _, err := b.client.CompleteMultipartUpload(ctx, in); err != nil {
		return b.writeError(ctx, err, w)
	}
	return nil
}
