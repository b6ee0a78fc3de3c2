package writer

import (
	"bytes"
	"context"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/parquet/file"
)

func TestSegment_BuffersAtMostOneRowGroupWhateverItsSize(t *testing.T) {
	const rows = 200_000
	dir := t.TempDir()
	s := NewSegment(dir)
	c := change(1)
	maxBuffered := 0
	for i := range rows {
		c.SequenceNumber = SequenceKey(strconv.Itoa(1000 + i))
		if err := s.Append(c); err != nil {
			t.Fatal(err)
		}
		maxBuffered = max(maxBuffered, s.sp.buffered())
	}
	if maxBuffered > maxGroupRows {
		t.Fatalf("%d rows buffered in memory at once, want at most %d", maxBuffered, maxGroupRows)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("want the spool file in %s, have %v", dir, entries)
	}
	if info, _ := entries[0].Info(); info.Size() == 0 {
		t.Fatal("nothing spooled to disk before Flush")
	}
	b := newMemBucket()
	name, err := Flush(context.Background(), b, s)
	if err != nil {
		t.Fatal(err)
	}
	data := b.get(t, name.Key())
	pf, err := file.NewParquetReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if pf.NumRows() != rows {
		t.Fatalf("%d rows stored, want %d", pf.NumRows(), rows)
	}
	if want := (rows + maxGroupRows - 1) / maxGroupRows; pf.NumRowGroups() != want {
		t.Fatalf("%d row groups, want %d", pf.NumRowGroups(), want)
	}
	r, err := NewChangeReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	n := 0
	for got, ok := r.Next(); ok; got, ok = r.Next() {
		if want := SequenceKey(strconv.Itoa(1000 + n)); got.SequenceNumber != want {
			t.Fatalf("row %d has sequence number %s, want %s", n, got.SequenceNumber, want)
		}
		n++
	}
	if r.Err() != nil || n != rows {
		t.Fatalf("read %d rows, err %v", n, r.Err())
	}
}

func TestSegment_CutsRowGroupsByBytesForLargeItems(t *testing.T) {
	s := NewSegment(t.TempDir())
	defer s.Discard()
	big := strings.Repeat("x", 390<<10) // close to DynamoDB's 400 KB item limit
	c := change(1)
	c.NewImage, c.OldImage = &big, &big
	for i := range 100 {
		c.SequenceNumber = strconv.Itoa(1000 + i)
		if err := s.Append(c); err != nil {
			t.Fatal(err)
		}
		if s.sp.groupBytes >= maxGroupBytes {
			t.Fatalf("%d bytes buffered after a row, limit %d", s.sp.groupBytes, maxGroupBytes)
		}
	}
	if s.Bytes() < 70<<20 {
		t.Fatalf("test wrote only %d bytes", s.Bytes())
	}
}

func TestPart_BuffersAtMostOneRowGroup(t *testing.T) {
	p := NewPart(t.TempDir())
	defer p.Discard()
	it := snapshotItems(1)[0]
	for range 3*maxGroupRows + 5 {
		if err := p.Append(it); err != nil {
			t.Fatal(err)
		}
		if p.sp.buffered() > maxGroupRows {
			t.Fatalf("%d rows buffered", p.sp.buffered())
		}
	}
	if p.sp.buffered() != 5 {
		t.Fatalf("%d rows buffered after three full row groups and 5 rows, want 5", p.sp.buffered())
	}
}
