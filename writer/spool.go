package writer

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

// A row group is cut at maxGroupRows rows or, before a row would take its buffered strings
// past a byte limit, whichever comes first. This bounds the memory of a segment or part
// being written, whatever its roll policy: everything before the current row group is
// already encoded in the spool file on disk.
//
// The byte limit of a change segment is maxGroupBytes; of a snapshot part, partGroupBytes.
// A part's rows are whole items (up to 400 KB each) and a snapshot fills one part per
// worker at once, four by default: 4 MiB groups keep the snapshot's peak RSS flat in table
// size and near 110 MB (with 8 MiB groups it was 140 to 150 MB). Change records, about a
// kilobyte a row with their images, mostly fill a group by rows first.
const (
	maxGroupRows   = 8192
	maxGroupBytes  = 8 << 20
	partGroupBytes = 4 << 20
)

// errSpoolBroken is returned after a spool write failed: the file's state is unknown, so
// the segment must be discarded and its records re-read.
var errSpoolBroken = errors.New("spool file unusable after an earlier write error; discard the segment")

// spool is a Parquet file being written to a temporary file: rows are buffered in Arrow
// builders for one row group at a time, then encoded and written out.
type spool struct {
	dir    string
	schema *arrow.Schema
	props  *parquet.WriterProperties

	rb  *array.RecordBuilder
	f   *os.File
	bw  *bufio.Writer
	fw  *pqarrow.FileWriter
	err error // sticky: set once a write failed

	groupRows  int
	groupBytes int64
	// maxRows is maxGroupRows except in tests; maxBytes the writer's byte limit.
	maxRows  int
	maxBytes int64

	// lastData is each string column's data size in the last row group: the next group
	// reserves that much up front instead of growing by doubling and copying.
	lastData []int

	finished bool
	size     int64 // file size once finished
}

func newSpool(dir string, schema *arrow.Schema, props *parquet.WriterProperties, groupBytes int64) spool {
	return spool{dir: dir, schema: schema, props: props, maxRows: maxGroupRows, maxBytes: groupBytes}
}

// open creates the spool file and the builders; it is called on the first row, so an
// unused segment costs nothing.
func (s *spool) open(pattern string) error {
	f, err := os.CreateTemp(s.dir, pattern)
	if err != nil {
		return fmt.Errorf("create spool file: %w", err)
	}
	s.f = f
	s.bw = bufio.NewWriterSize(f, 256<<10)
	// The bufio.Writer hides f's Close from pqarrow, which would otherwise close the file
	// on Close and leave nothing to upload.
	fw, err := pqarrow.NewFileWriter(s.schema, s.bw, s.props, pqarrow.NewArrowWriterProperties(pqarrow.WithAllocator(writerMemory)))
	if err != nil {
		s.remove()
		return fmt.Errorf("start Parquet file: %w", err)
	}
	s.fw = fw
	s.rb = array.NewRecordBuilder(writerMemory, s.schema)
	s.reserve()
	return nil
}

// reserve sizes the builders for a row group like the last one so appends do not regrow
// them.
func (s *spool) reserve() {
	s.rb.Reserve(s.maxRows)
	for i, n := range s.lastData {
		if b, ok := s.rb.Field(i).(*array.StringBuilder); ok && n > 0 {
			// A column never holds more than maxBytes (see room), so reserving past it
			// would only take a buffer of the pool's next size class.
			b.ReserveData(min(n+n/8, int(s.maxBytes)))
		}
	}
}

// room is called before a row of about n bytes is appended: when the row would take the
// row group past maxRows or maxBytes, the rows buffered so far are written out first. A
// row group so holds at most maxBytes (a row larger than that alone), and the builders,
// sized by reserve, are not regrown (each regrowth would take a buffer of the next size
// class and copy into it).
func (s *spool) room(n int64) error {
	if s.groupRows > 0 && (s.groupRows >= s.maxRows || s.groupBytes+n > s.maxBytes) {
		return s.writeGroup()
	}
	return nil
}

// rowAdded accounts one appended row of about n bytes.
func (s *spool) rowAdded(n int64) {
	s.groupRows++
	s.groupBytes += n
}

// writeGroup encodes the buffered rows as one row group.
func (s *spool) writeGroup() error {
	if s.groupRows == 0 {
		return nil
	}
	rec := s.rb.NewRecordBatch()
	if s.lastData == nil {
		s.lastData = make([]int, rec.NumCols())
	}
	for i, col := range rec.Columns() {
		if a, ok := col.(*array.String); ok {
			s.lastData[i] = len(a.ValueBytes())
		}
	}
	s.groupRows, s.groupBytes = 0, 0
	err := s.fw.Write(rec)
	// Released before reserve, so the builders take back these same buffers from the pool.
	rec.Release()
	if err != nil {
		s.err = fmt.Errorf("write row group to spool file: %w", err)
		return s.err
	}
	s.reserve()
	return nil
}

// finish writes the last row group and the footer, and returns the file rewound for
// upload. It can be called again after a failed upload.
func (s *spool) finish() (*os.File, error) {
	if s.err != nil {
		return nil, s.err
	}
	if !s.finished {
		if err := s.writeGroup(); err != nil {
			return nil, err
		}
		if err := s.fw.Close(); err != nil {
			s.err = fmt.Errorf("close Parquet file: %w", err)
			return nil, s.err
		}
		if err := s.bw.Flush(); err != nil {
			s.err = fmt.Errorf("write spool file: %w", err)
			return nil, s.err
		}
		s.rb.Release()
		s.rb = nil
		s.finished = true
		size, err := s.f.Seek(0, io.SeekEnd)
		if err != nil {
			return nil, fmt.Errorf("size spool file: %w", err)
		}
		s.size = size
	}
	if _, err := s.f.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("rewind spool file: %w", err)
	}
	return s.f, nil
}

// buffered is the count of rows held in memory, not yet encoded.
func (s *spool) buffered() int { return s.groupRows }

// remove deletes the spool file and frees the builders; safe to call more than once.
func (s *spool) remove() {
	if s.rb != nil {
		s.rb.Release()
		s.rb = nil
	}
	if s.fw != nil && !s.finished {
		// Closing writes a footer nobody reads; it only releases the encoder's buffers.
		_ = s.fw.Close()
	}
	s.fw = nil
	if s.f != nil {
		name := s.f.Name()
		_ = s.f.Close()
		_ = os.Remove(name)
		s.f = nil
	}
}
