package writer

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"unsafe"

	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/ddbtape/ddbtape/shards"
)

func TestSegment_BuffersAtMostOneRowGroupWhateverItsSize(t *testing.T) {
	const rows = 200_000
	dir := t.TempDir()
	s := NewSegment(dir)
	c := change(1)
	maxBuffered := 0
	for i := range rows {
		c.SequenceNumber = shards.SequenceNumber(strconv.Itoa(1000 + i)).Key()
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
	stored, err := Flush(context.Background(), b, s)
	name := stored.Name
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
		if want := shards.SequenceNumber(strconv.Itoa(1000 + n)).Key(); got.SequenceNumber != want {
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
		if s.sp.groupBytes > maxGroupBytes {
			t.Fatalf("%d bytes buffered after a row, limit %d", s.sp.groupBytes, maxGroupBytes)
		}
	}
	if s.Bytes() < 70<<20 {
		t.Fatalf("test wrote only %d bytes", s.Bytes())
	}
}

// A part cuts its row group before an item would take it past partGroupBytes, and its
// builders are sized from the last group but never past the limit: the item column's
// buffer stays within one size class of the pool (regrowing it to the next would double
// the memory of every snapshot worker).
func TestPart_RowGroupsStayWithinTheByteLimit(t *testing.T) {
	const items, size = 100, 300 << 10 // 30 MB of items near DynamoDB's 400 KB limit
	p := NewPart(t.TempDir())
	defer p.Discard()
	big := strings.Repeat("x", size)
	var stored []SnapshotItem
	for i := range items {
		it := SnapshotItem{Keys: fmt.Sprintf(`{"pk":{"S":"%06d"}}`, i), Item: fmt.Sprintf(`{"b":{"S":"%s"},"pk":{"S":"%06d"}}`, big, i)}
		stored = append(stored, it)
		if err := p.Append(it); err != nil {
			t.Fatal(err)
		}
		if p.sp.groupBytes > partGroupBytes {
			t.Fatalf("item %d: %d bytes buffered, limit %d", i, p.sp.groupBytes, partGroupBytes)
		}
		if c := p.item.DataCap(); c > partGroupBytes {
			t.Fatalf("item %d: the item column's buffer grew to %d bytes, limit %d", i, c, partGroupBytes)
		}
	}
	b := newMemBucket()
	mp, err := FlushPart(context.Background(), b, p, "t", "s", 0)
	if err != nil {
		t.Fatal(err)
	}
	data := b.get(t, SnapshotDir("t", "s")+mp.Name)
	pf, err := file.NewParquetReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	row := int64(len(stored[0].Keys) + len(stored[0].Item))
	perGroup := int64(partGroupBytes) / row
	if want := (items + perGroup - 1) / perGroup; int64(pf.NumRowGroups()) != want {
		t.Fatalf("%d row groups of items of %d bytes, want %d (%d a group)", pf.NumRowGroups(), row, want, perGroup)
	}
	got, err := ReadPart(data)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != items {
		t.Fatalf("read %d items, want %d", len(got), items)
	}
	for i := range got {
		if got[i] != stored[i] {
			t.Fatalf("item %d differs after the round trip", i)
		}
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

// The writers share a buffer pool; segments written at the same time must not see each
// other's bytes.
func TestSegment_ConcurrentSegmentsKeepTheirOwnData(t *testing.T) {
	const writers, rows = 4, 3*maxGroupRows + 17
	b := newMemBucket()
	names := make([]SegmentName, writers)
	errs := make(chan error, writers)
	for w := range writers {
		go func() {
			s := NewSegment(t.TempDir())
			defer s.Discard()
			for i := range rows {
				c := change(i + 1)
				c.ShardID = "shard-" + strconv.Itoa(w)
				img := strings.Repeat(strconv.Itoa(w), 100+i%50)
				c.NewImage = &img
				if err := s.Append(c); err != nil {
					errs <- err
					return
				}
			}
			stored, err := Flush(context.Background(), b, s)
			name := stored.Name
			names[w] = name
			errs <- err
		}()
	}
	for range writers {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	for w, name := range names {
		out, err := ReadChanges(b.get(t, name.Key()))
		if err != nil {
			t.Fatal(err)
		}
		if len(out) != rows {
			t.Fatalf("writer %d: %d rows", w, len(out))
		}
		for i, c := range out {
			want := strings.Repeat(strconv.Itoa(w), 100+i%50)
			if c.ShardID != "shard-"+strconv.Itoa(w) || *c.NewImage != want || c.SequenceNumber != change(i+1).SequenceNumber {
				t.Fatalf("writer %d row %d: got shard %s image %.20q...", w, i, c.ShardID, *c.NewImage)
			}
		}
	}
}

func TestBufferPool_ReturnsZeroedAlignedBuffers(t *testing.T) {
	p := &bufferPool{}
	for _, size := range []int{1, 64, 4095, 4096, 4097, 1 << 20, 3<<20 + 5} {
		b := p.Allocate(size)
		if len(b) != size {
			t.Fatalf("Allocate(%d) has length %d", size, len(b))
		}
		if uintptr(unsafe.Pointer(unsafe.SliceData(b)))%alignment != 0 {
			t.Fatalf("Allocate(%d) not %d-byte aligned", size, alignment)
		}
		for i := range b {
			b[i] = 0xff
		}
		p.Free(b)
		again := p.Allocate(size)
		for i, c := range again {
			if c != 0 {
				t.Fatalf("reused buffer of %d bytes not zeroed at %d", size, i)
			}
		}
		grown := p.Reallocate(size*2+1, append(again[:0], make([]byte, size)...))
		if len(grown) != size*2+1 {
			t.Fatalf("Reallocate length %d", len(grown))
		}
		for i, c := range grown {
			if c != 0 {
				t.Fatalf("grown buffer not zeroed at %d", i)
			}
		}
	}
}
