package writer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

// ErrCorrupt is wrapped when a Parquet file cannot be decoded: truncated, damaged, or not
// Parquet at all. Restores stop on it rather than skip records; replace the file from a
// replica, or take a new snapshot.
var ErrCorrupt = errors.New("corrupt or truncated Parquet file")

// readBatchRows is how many rows a reader decodes at a time: memory is bounded by one
// batch, not by the file.
const readBatchRows = 4096

// rowReader walks the record batches of a Parquet file with a known schema. The Arrow
// Parquet decoder panics on some malformed input (a nil dereference was seen in testing)
// instead of returning an error, so every call into it recovers and reports ErrCorrupt.
type rowReader struct {
	pf   *file.Reader
	rr   pqarrow.RecordReader
	rec  arrow.RecordBatch
	row  int   // next row in rec
	read int64 // rows handed out
	want int64 // rows the footer promises
	err  error
	done bool
}

func openRows(r parquet.ReaderAtSeeker, schema *arrow.Schema) (_ *rowReader, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: %v", ErrCorrupt, p)
		}
	}()
	// Keep the file reader from closing r: the caller owns it.
	pf, err := file.NewParquetReader(noCloser{r})
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{BatchSize: readBatchRows}, memory.DefaultAllocator)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	got, err := fr.Schema()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnknownSchema, err)
	}
	if err := checkSchema(got, schema); err != nil {
		return nil, err
	}
	rr, err := fr.GetRecordReader(context.Background(), nil, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	return &rowReader{pf: pf, rr: rr, want: pf.NumRows()}, nil
}

type noCloser struct{ parquet.ReaderAtSeeker }

// next moves to the next row and returns the batch holding it and its index there.
func (r *rowReader) next() (arrow.RecordBatch, int, bool) {
	for !r.done && (r.rec == nil || r.row >= int(r.rec.NumRows())) {
		r.load()
	}
	if r.done {
		return nil, 0, false
	}
	i := r.row
	r.row++
	r.read++
	return r.rec, i, true
}

func (r *rowReader) load() {
	defer func() {
		if p := recover(); p != nil {
			r.fail(fmt.Errorf("%w: %v", ErrCorrupt, p))
		}
	}()
	r.rec, r.row = nil, 0
	if r.rr.Next() {
		r.rec = r.rr.RecordBatch()
		return
	}
	if err := r.rr.Err(); err != nil {
		r.fail(fmt.Errorf("%w: %v", ErrCorrupt, err))
		return
	}
	if r.read != r.want {
		r.fail(fmt.Errorf("%w: read %d rows, footer says %d", ErrCorrupt, r.read, r.want))
		return
	}
	r.done = true
}

func (r *rowReader) fail(err error) {
	r.err, r.done, r.rec = err, true, nil
}

func (r *rowReader) close() {
	if r.rr != nil {
		r.rr.Release()
		r.rr = nil
	}
	r.rec = nil
	r.done = true
}

// ChangeReader streams the changes of one segment; it holds one batch of rows in memory.
type ChangeReader struct{ rows *rowReader }

// NewChangeReader opens a segment. It fails with an error wrapping ErrUnknownSchema if the
// file's columns differ from the change segment schema (the error names the difference),
// or ErrCorrupt if it is not a readable Parquet file. Closing the ChangeReader does not
// close r.
func NewChangeReader(r parquet.ReaderAtSeeker) (*ChangeReader, error) {
	rows, err := openRows(r, changeSchema)
	if err != nil {
		return nil, err
	}
	return &ChangeReader{rows: rows}, nil
}

// Next returns the next change; false at the end or on error (see Err).
func (r *ChangeReader) Next() (Change, bool) {
	rec, i, ok := r.rows.next()
	if !ok {
		return Change{}, false
	}
	return changeAt(rec, i), true
}

// Err is the error that ended reading, nil at a clean end. A file that ends early is
// an error wrapping ErrCorrupt.
func (r *ChangeReader) Err() error { return r.rows.err }

// Close releases the reader's buffers.
func (r *ChangeReader) Close() error {
	r.rows.close()
	return nil
}

// ReadChanges decodes a whole segment held in memory. Use NewChangeReader to stream.
func ReadChanges(data []byte) ([]Change, error) {
	r, err := NewChangeReader(bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	defer r.Close()
	var out []Change
	for {
		c, ok := r.Next()
		if !ok {
			break
		}
		out = append(out, c)
	}
	return out, r.Err()
}

// changeAt copies row i out of rec. Strings are cloned: Arrow's String.Value aliases the
// batch's buffer, which is reused once the reader moves on.
func changeAt(rec arrow.RecordBatch, i int) Change {
	str := func(col int) string { return strings.Clone(rec.Column(col).(*array.String).Value(i)) }
	opt := func(col int) *string {
		a := rec.Column(col).(*array.String)
		if a.IsNull(i) {
			return nil
		}
		s := strings.Clone(a.Value(i))
		return &s
	}
	ts := func(col int) time.Time {
		return time.UnixMilli(int64(rec.Column(col).(*array.Timestamp).Value(i))).UTC()
	}
	return Change{
		TableName:               str(iTableName),
		StreamARN:               str(iStreamARN),
		ShardID:                 str(iShardID),
		SequenceNumber:          str(iSequenceNumber),
		EventID:                 str(iEventID),
		EventName:               str(iEventName),
		ApproximateCreationTime: ts(iApproximateCreationTime),
		CapturedAt:              ts(iCapturedAt),
		Keys:                    str(iKeys),
		NewImage:                opt(iNewImage),
		OldImage:                opt(iOldImage),
		SizeBytes:               rec.Column(iSizeBytes).(*array.Int64).Value(i),
		UserIdentity:            opt(iUserIdentity),
	}
}
