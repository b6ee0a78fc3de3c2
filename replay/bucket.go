package replay

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/apache/arrow-go/v18/parquet"

	"github.com/ddbtape/ddbtape/catalog"
	"github.com/ddbtape/ddbtape/storage"
	"github.com/ddbtape/ddbtape/writer"
)

// BucketReader reads parts and segments from the bucket a backup lives in.
type BucketReader struct {
	bucket  storage.Bucket
	table   string
	tempDir string
}

var _ Reader = (*BucketReader)(nil)

// NewBucketReader reads the backup of table in b. Objects that are not local files (S3)
// are downloaded into tempDir (empty: the system's) one at a time per reader goroutine.
func NewBucketReader(b storage.Bucket, table, tempDir string) *BucketReader {
	return &BucketReader{bucket: b, table: table, tempDir: tempDir}
}

// ReadPart implements Reader: the part is verified against the manifest (size and
// SHA-256) in full before its first row is decoded.
func (r *BucketReader) ReadPart(ctx context.Context, snapshotID string, part writer.ManifestPart, fn func(writer.SnapshotItem) error) error {
	key := writer.SnapshotDir(r.table, snapshotID) + part.Name
	name := storage.URL(r.bucket, key)
	f, err := r.verifiedPart(ctx, snapshotID, key, part)
	if err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			return fmt.Errorf("snapshot part %s is missing: %w", name, err)
		}
		return fmt.Errorf("snapshot part %s: %w", name, err)
	}
	defer f.Close()
	pr, err := writer.NewPartReader(f)
	if err != nil {
		return fmt.Errorf("snapshot part %s: %w", name, err)
	}
	defer pr.Close()
	var rows int64
	for {
		it, ok := pr.Next()
		if !ok {
			break
		}
		rows++
		if err := fn(it); err != nil {
			return err
		}
	}
	if err := pr.Err(); err != nil {
		return fmt.Errorf("snapshot part %s: %w", name, err)
	}
	if rows != part.Rows {
		return fmt.Errorf("snapshot part %s holds %d rows, the manifest says %d: %w", name, rows, part.Rows, writer.ErrChecksum)
	}
	return nil
}

// verifiedPart returns the part's content checked against the manifest, positioned at its
// start: a local file is hashed in place, anything else is downloaded while hashed.
func (r *BucketReader) verifiedPart(ctx context.Context, snapshotID, key string, part writer.ManifestPart) (*os.File, error) {
	rc, err := r.bucket.Open(ctx, key)
	if err != nil {
		return nil, err
	}
	f, ok := rc.(*os.File)
	if !ok {
		rc.Close()
		return writer.DownloadPart(ctx, r.bucket, r.table, snapshotID, part, r.tempDir)
	}
	if err := writer.VerifyPart(f, part); err != nil {
		f.Close()
		return nil, err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// ReadSegment implements Reader. A segment with a size and SHA-256 in the ledger
// (seg.Recorded) is checked against them in full before its first change is decoded, and
// refused with an error naming it and wrapping writer.ErrChecksum when it differs; one
// without (older backups) is only decoded. Every change must belong to the segment's
// shard: a file whose content contradicts its name is not trusted.
func (r *BucketReader) ReadSegment(ctx context.Context, seg catalog.Segment, fn func(*writer.Change) error) error {
	name := storage.URL(r.bucket, seg.Key)
	src, done, err := r.fetch(ctx, seg)
	if err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			return fmt.Errorf("segment %s is missing: %w", name, err)
		}
		return fmt.Errorf("segment %s: %w", name, err)
	}
	defer done()
	cr, err := writer.NewChangeReader(src)
	if err != nil {
		return fmt.Errorf("segment %s: %w", name, err)
	}
	defer cr.Close()
	for {
		c, ok := cr.Next()
		if !ok {
			break
		}
		if c.ShardID != seg.Name.ShardID {
			return fmt.Errorf("segment %s holds a record of shard %s: %w", name, c.ShardID, writer.ErrCorrupt)
		}
		if err := fn(&c); err != nil {
			return err
		}
	}
	if err := cr.Err(); err != nil {
		return fmt.Errorf("segment %s: %w", name, err)
	}
	return nil
}

// fetch returns random access to a segment, checked against seg.Recorded when it has
// one: the file itself for a local directory (hashed in place), a temporary copy
// otherwise (hashed while downloaded). done releases it.
func (r *BucketReader) fetch(ctx context.Context, seg catalog.Segment) (parquet.ReaderAtSeeker, func(), error) {
	rc, err := r.bucket.Open(ctx, seg.Key)
	if err != nil {
		return nil, nil, err
	}
	check := func(rd io.Reader) error {
		if seg.Recorded.SHA256 == "" {
			_, err := io.Copy(io.Discard, rd)
			return err
		}
		return writer.VerifySegment(rd, seg.Recorded.Size, seg.Recorded.SHA256)
	}
	if f, ok := rc.(*os.File); ok {
		if seg.Recorded.SHA256 != "" {
			if err := check(f); err != nil {
				f.Close()
				return nil, nil, err
			}
			if _, err := f.Seek(0, io.SeekStart); err != nil {
				f.Close()
				return nil, nil, err
			}
		}
		return f, func() { f.Close() }, nil
	}
	defer rc.Close()
	tmp, err := os.CreateTemp(r.tempDir, "ddbtape-segment-*.parquet")
	if err != nil {
		return nil, nil, fmt.Errorf("download: %w", err)
	}
	_ = os.Remove(tmp.Name()) // unlinked: nothing is left behind after a crash
	if err := check(io.TeeReader(rc, tmp)); err != nil {
		tmp.Close()
		if errors.Is(err, writer.ErrChecksum) {
			return nil, nil, err
		}
		return nil, nil, fmt.Errorf("download: %w", err)
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		tmp.Close()
		return nil, nil, fmt.Errorf("download: %w", err)
	}
	return tmp, func() { tmp.Close() }, nil
}
