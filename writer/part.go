package writer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/parquet"

	"github.com/ddbtape/ddbtape/storage"
)

var (
	// ErrEmptyPart is returned by FlushPart for a part without rows; a snapshot of an empty
	// table simply has no parts.
	ErrEmptyPart = errors.New("snapshot part has no rows")
	// ErrPartClosed is returned when a part is used after FlushPart succeeded or after
	// Discard.
	ErrPartClosed = errors.New("snapshot part already flushed or discarded")
	// ErrChecksum is wrapped when a stored file does not match the size or SHA-256
	// recorded for it (a snapshot part in its manifest, a change segment in the ledger):
	// the file is damaged or was replaced. A restore refuses it; restore from another
	// snapshot or a replica of the file.
	ErrChecksum = errors.New("backup file does not match its recorded SHA-256")
)

// SnapshotDir is the key prefix of one snapshot: <table>/snapshots/<id>/.
func SnapshotDir(table, id string) string { return SnapshotsPrefix(table) + id + "/" }

// PartName is the file name of part n within its snapshot directory: part-NNNNN.parquet.
func PartName(n int) string { return fmt.Sprintf("part-%05d.parquet", n) }

// PartPolicy says when a snapshot part is complete: whichever limit is reached first.
type PartPolicy struct {
	MaxRows  int
	MaxBytes int64 // approximate payload bytes (see Part.Bytes)
}

// DefaultPartPolicy is 500,000 rows or 128 MiB: few enough files for a big table, small
// enough that a restore fetches and verifies them in parallel.
func DefaultPartPolicy() PartPolicy { return PartPolicy{MaxRows: 500_000, MaxBytes: 128 << 20} }

// Validate reports a limit that is not positive.
func (p PartPolicy) Validate() error {
	switch {
	case p.MaxRows <= 0:
		return fmt.Errorf("part policy: max rows must be positive, got %d", p.MaxRows)
	case p.MaxBytes <= 0:
		return fmt.Errorf("part policy: max bytes must be positive, got %d", p.MaxBytes)
	}
	return nil
}

// Part collects snapshot items into one Parquet part, spooled to disk a row group at a
// time like a Segment. Parallel scan workers each fill their own Part; part numbers are
// given at FlushPart, so numbering has no gaps whatever the workers' speeds. A Part is used
// by one goroutine.
type Part struct {
	sp     spool
	n      int
	bytes  int64
	closed bool
	keys   *array.StringBuilder
	item   *array.StringBuilder
}

// NewPart returns an empty part that spools to spoolDir (the system temporary directory
// when empty). No file is created until the first Append.
func NewPart(spoolDir string) *Part {
	return &Part{sp: newSpool(spoolDir, snapshotSchema, snapshotWriterProps(), partGroupBytes)}
}

// Append adds an item. Keys and Item are DynamoDB JSON (package ddbjson).
func (p *Part) Append(it SnapshotItem) error {
	if p.closed {
		return ErrPartClosed
	}
	if p.sp.err != nil {
		return errSpoolBroken
	}
	if p.n == 0 {
		if err := p.sp.open("ddbtape-part-*.parquet"); err != nil {
			return err
		}
		p.keys = p.sp.rb.Field(0).(*array.StringBuilder)
		p.item = p.sp.rb.Field(1).(*array.StringBuilder)
	}
	n := int64(len(it.Keys) + len(it.Item))
	if err := p.sp.room(n); err != nil {
		return err
	}
	p.keys.Append(it.Keys)
	p.item.Append(it.Item)
	p.n++
	p.bytes += n
	p.sp.rowAdded(n)
	return nil
}

// Len is the number of items appended.
func (p *Part) Len() int { return p.n }

// Bytes approximates the part's payload: the lengths of its keys and items.
func (p *Part) Bytes() int64 { return p.bytes }

// Due reports whether the part reached a limit of pol.
func (p *Part) Due(pol PartPolicy) bool {
	return p.n > 0 && (p.n >= pol.MaxRows || p.bytes >= pol.MaxBytes)
}

// Discard drops the part and its spool file; safe at any time, more than once, and after
// FlushPart.
func (p *Part) Discard() {
	p.closed = true
	p.sp.remove()
}

// FlushPart stores the part as SnapshotDir(table, snapshotID)+PartName(n) with Create and
// returns its manifest entry (name, rows, file size, SHA-256). If an object already has
// that key with the same content (an upload retried after an ambiguous failure), that is
// success; with other content it is an error wrapping storage.ErrExists. After an error
// the part is intact and FlushPart can be retried.
func FlushPart(ctx context.Context, b storage.Bucket, p *Part, table, snapshotID string, n int) (ManifestPart, error) {
	if p.closed {
		return ManifestPart{}, ErrPartClosed
	}
	if p.n == 0 {
		return ManifestPart{}, ErrEmptyPart
	}
	key := SnapshotDir(table, snapshotID) + PartName(n)
	f, err := p.sp.finish()
	if err != nil {
		return ManifestPart{}, fmt.Errorf("finish part %s: %w", key, err)
	}
	// Hashing the spool file first (it is in the page cache) rather than teeing the upload
	// lets the seal travel with the body (storage.Sealed): the backend checks what it
	// stores, and S3 keeps the checksum.
	sum, size, err := storage.HashReader(f)
	if err != nil {
		return ManifestPart{}, fmt.Errorf("checksum part %s: %w", key, err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return ManifestPart{}, fmt.Errorf("rewind part %s: %w", key, err)
	}
	mp := ManifestPart{Name: PartName(n), Rows: int64(p.n), Bytes: size, SHA256: sum}
	if err := b.Create(ctx, key, storage.Sealed(f, sum)); err != nil {
		if !errors.Is(err, storage.ErrExists) {
			return ManifestPart{}, fmt.Errorf("store part %s: %w", key, err)
		}
		if verr := verifyStored(ctx, b, key, mp); verr != nil {
			return ManifestPart{}, fmt.Errorf("store part %s: %w (%v)", key, err, verr)
		}
	}
	p.Discard()
	return mp, nil
}

// verifyStored checks that the object under key is the part described by mp.
func verifyStored(ctx context.Context, b storage.Bucket, key string, mp ManifestPart) error {
	rc, err := b.Open(ctx, key)
	if err != nil {
		return err
	}
	defer rc.Close()
	return VerifyPart(rc, mp)
}

// VerifyPart reads r to its end and checks its size and SHA-256 against mp. A mismatch is
// an error wrapping ErrChecksum that names the part.
func VerifyPart(r io.Reader, mp ManifestPart) error {
	sum, size, err := storage.HashReader(r)
	if err != nil {
		return fmt.Errorf("read part %s: %w", mp.Name, err)
	}
	if size != mp.Bytes {
		return fmt.Errorf("part %s is %d bytes, manifest says %d: %w", mp.Name, size, mp.Bytes, ErrChecksum)
	}
	if sum != mp.SHA256 {
		return fmt.Errorf("part %s has SHA-256 %s, manifest says %s: %w", mp.Name, sum, mp.SHA256, ErrChecksum)
	}
	return nil
}

// VerifySegment reads r to its end and checks its size and SHA-256 against what the
// ledger recorded for the segment. A mismatch is an error wrapping ErrChecksum.
func VerifySegment(r io.Reader, size int64, sha256Hex string) error {
	sum, n, err := storage.HashReader(r)
	if err != nil {
		return fmt.Errorf("read segment: %w", err)
	}
	if n != size {
		return fmt.Errorf("it is %d bytes, the ledger recorded %d: %w", n, size, ErrChecksum)
	}
	if sum != sha256Hex {
		return fmt.Errorf("it has SHA-256 %s, the ledger recorded %s: %w", sum, sha256Hex, ErrChecksum)
	}
	return nil
}

// DownloadPart copies part mp of a snapshot from b into a temporary file in spoolDir,
// verifying it on the way, and returns the file positioned at its start, ready for
// NewPartReader. The file is already unlinked: closing it frees the space, and nothing is
// left behind after a crash. A part that fails verification is an error wrapping
// ErrChecksum.
func DownloadPart(ctx context.Context, b storage.Bucket, table, snapshotID string, mp ManifestPart, spoolDir string) (*os.File, error) {
	key := SnapshotDir(table, snapshotID) + mp.Name
	rc, err := b.Open(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("open part %s: %w", key, err)
	}
	defer rc.Close()
	f, err := os.CreateTemp(spoolDir, "ddbtape-restore-*.parquet")
	if err != nil {
		return nil, fmt.Errorf("download part %s: %w", key, err)
	}
	_ = os.Remove(f.Name())
	if err := VerifyPart(io.TeeReader(rc, f), mp); err != nil {
		f.Close()
		return nil, fmt.Errorf("download part %s: %w", key, err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		f.Close()
		return nil, fmt.Errorf("download part %s: %w", key, err)
	}
	return f, nil
}

// PartReader streams the items of one snapshot part; it holds one batch of rows in memory.
type PartReader struct{ rows *rowReader }

// NewPartReader opens a part. It fails with an error wrapping ErrUnknownSchema if the
// file's columns are not (keys, item), or ErrCorrupt if it is not readable Parquet.
// Verify the file against its manifest entry first (VerifyPart, DownloadPart): Parquet
// itself does not detect every damaged byte. Closing the PartReader does not close r.
func NewPartReader(r parquet.ReaderAtSeeker) (*PartReader, error) {
	rows, err := openRows(r, snapshotSchema)
	if err != nil {
		return nil, err
	}
	return &PartReader{rows: rows}, nil
}

// Next returns the next item; false at the end or on error (see Err).
func (r *PartReader) Next() (SnapshotItem, bool) {
	rec, i, ok := r.rows.next()
	if !ok {
		return SnapshotItem{}, false
	}
	return SnapshotItem{
		Keys: strings.Clone(rec.Column(0).(*array.String).Value(i)),
		Item: strings.Clone(rec.Column(1).(*array.String).Value(i)),
	}, true
}

// Err is the error that ended reading, nil at a clean end.
func (r *PartReader) Err() error { return r.rows.err }

// Close releases the reader's buffers.
func (r *PartReader) Close() error {
	r.rows.close()
	return nil
}

// ReadPart decodes a whole part held in memory. Use NewPartReader to stream.
func ReadPart(data []byte) ([]SnapshotItem, error) {
	r, err := NewPartReader(bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	defer r.Close()
	var out []SnapshotItem
	for {
		it, ok := r.Next()
		if !ok {
			break
		}
		out = append(out, it)
	}
	return out, r.Err()
}
