package s3

import (
	"bytes"
	"context"
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
func (b *Bucket) write(ctx context.Context, key string, r io.Reader, mode storage.WriteMode) error {
	if key == "" {
		return errors.New("empty key")
	}
	var head bytes.Buffer
	n, err := io.CopyN(&head, r, b.opts.PartSize+1)
	if err != nil && err != io.EOF {
		return fmt.Errorf("read body: %w", err)
	}
	if n <= b.opts.PartSize {
		return b.putObject(ctx, key, head.Bytes(), mode)
	}
	data := head.Bytes()
	rest := io.MultiReader(bytes.NewReader(bytes.Clone(data[b.opts.PartSize:])), r)
	return b.multipart(ctx, key, data[:b.opts.PartSize], rest, mode)
}

func (b *Bucket) putObject(ctx context.Context, key string, data []byte, mode storage.WriteMode) error {
	in := &awss3.PutObjectInput{
		Bucket:        aws.String(b.bucket),
		Key:           aws.String(b.prefix + key),
		Body:          bytes.NewReader(data),
		ContentLength: aws.Int64(int64(len(data))),
	}
	if b.opts.SSE != "" {
		in.ServerSideEncryption = types.ServerSideEncryption(b.opts.SSE)
	}
	if b.opts.SSEKMSKeyID != "" {
		in.SSEKMSKeyId = aws.String(b.opts.SSEKMSKeyID)
	}
	if mode == storage.IfAbsent {
		in.IfNoneMatch = aws.String("*")
	}
	if _, err := b.client.PutObject(ctx, in); err != nil {
		return b.writeError(err, mode)
	}
	return nil
}

// writeError classifies a failed PutObject or CompleteMultipartUpload. A 409
// ConditionalRequestConflict (another conditional write to the key in flight) is not
// ErrExists: the other write may yet fail, and treating it as stored could let a
// checkpoint pass data that is nowhere. The client from NewClient retries it; if it
// persists, it is an error.
func (b *Bucket) writeError(err error, mode storage.WriteMode) error {
	if mode == storage.IfAbsent && isPreconditionFailed(err) {
		return storage.ErrExists
	}
	return explain(b.bucket, err)
}

// multipart uploads first and then the rest of the body part by part, reusing one buffer,
// and completes the upload; on any failure it aborts the upload.
func (b *Bucket) multipart(ctx context.Context, key string, first []byte, rest io.Reader, mode storage.WriteMode) (err error) {
	cin := &awss3.CreateMultipartUploadInput{
		Bucket:            aws.String(b.bucket),
		Key:               aws.String(b.prefix + key),
		ChecksumAlgorithm: types.ChecksumAlgorithmCrc32,
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
			ChecksumAlgorithm: types.ChecksumAlgorithmCrc32,
		})
		if err != nil {
			return fmt.Errorf("upload part %d: %w", num, explain(b.bucket, err))
		}
		parts = append(parts, types.CompletedPart{ETag: up.ETag, PartNumber: aws.Int32(num), ChecksumCRC32: up.ChecksumCRC32})
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

	in := &awss3.CompleteMultipartUploadInput{
		Bucket:          aws.String(b.bucket),
		Key:             aws.String(b.prefix + key),
		UploadId:        uploadID,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts},
	}
	if mode == storage.IfAbsent {
		in.IfNoneMatch = aws.String("*")
	}
	if _, err := b.client.CompleteMultipartUpload(ctx, in); err != nil {
		return b.writeError(err, mode)
	}
	return nil
}
