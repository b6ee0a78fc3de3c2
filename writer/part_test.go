package writer

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"

	"github.com/ddbtape/ddbtape/storage"
)

func snapshotItems(n int) []SnapshotItem {
	out := make([]SnapshotItem, n)
	for i := range out {
		k := fmt.Sprintf(`{"pk":{"S":"item#%06d"}}`, i)
		out[i] = SnapshotItem{Keys: k, Item: fmt.Sprintf(`{"n":{"N":"%d"},"pk":{"S":"item#%06d"}}`, i, i)}
	}
	return out
}

func fillPart(t *testing.T, dir string, items []SnapshotItem) *Part {
	t.Helper()
	p := NewPart(dir)
	for _, it := range items {
		if err := p.Append(it); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

func TestSnapshotKeys(t *testing.T) {
	if got := SnapshotDir("orders", "20240517T104217Z"); got != "orders/snapshots/20240517T104217Z/" {
		t.Fatalf("SnapshotDir = %s", got)
	}
	for n, want := range map[int]string{0: "part-00000.parquet", 7: "part-00007.parquet", 12345: "part-12345.parquet", 123456: "part-123456.parquet"} {
		if got := PartName(n); got != want {
			t.Errorf("PartName(%d) = %s, want %s", n, got, want)
		}
	}
}

func TestFlushPart_RoundTripsItemsWithManifestEntry(t *testing.T) {
	dir := t.TempDir()
	items := append(snapshotItems(3), SnapshotItem{Keys: `{"pk":{"S":""}}`, Item: everyTypeItem(t)})
	p := fillPart(t, dir, items)
	b := newMemBucket()
	mp, err := FlushPart(context.Background(), b, p, "orders", "snap1", 3)
	if err != nil {
		t.Fatal(err)
	}
	data := b.get(t, "orders/snapshots/snap1/part-00003.parquet")
	sum := sha256.Sum256(data)
	want := ManifestPart{Name: "part-00003.parquet", Rows: 4, Bytes: int64(len(data)), SHA256: hex.EncodeToString(sum[:])}
	if mp != want {
		t.Fatalf("manifest part %+v, want %+v", mp, want)
	}
	got, err := ReadPart(data)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, items) {
		t.Fatalf("items differ:\n%+v\n%+v", got, items)
	}
	if err := VerifyPart(bytes.NewReader(data), mp); err != nil {
		t.Fatal(err)
	}
	assertEmptyDir(t, dir)
}

func TestFlushPart_SameContentAlreadyStoredIsSuccess(t *testing.T) {
	b := newMemBucket()
	first, err := FlushPart(context.Background(), b, fillPart(t, t.TempDir(), snapshotItems(5)), "t1", "s", 0)
	if err != nil {
		t.Fatal(err)
	}
	again, err := FlushPart(context.Background(), b, fillPart(t, t.TempDir(), snapshotItems(5)), "t1", "s", 0)
	if err != nil {
		t.Fatalf("re-upload of identical part: %v", err)
	}
	if again != first {
		t.Fatalf("manifest entries differ: %+v vs %+v", again, first)
	}
}

func TestFlushPart_DifferentContentAlreadyStoredIsAnError(t *testing.T) {
	b := newMemBucket()
	if _, err := FlushPart(context.Background(), b, fillPart(t, t.TempDir(), snapshotItems(5)), "t1", "s", 0); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	p := fillPart(t, dir, snapshotItems(6))
	_, err := FlushPart(context.Background(), b, p, "t1", "s", 0)
	if !errors.Is(err, storage.ErrExists) {
		t.Fatalf("got %v, want ErrExists", err)
	}
	p.Discard()
	assertEmptyDir(t, dir)
}

func TestFlushPart_FailedUploadCanBeRetried(t *testing.T) {
	dir := t.TempDir()
	p := fillPart(t, dir, snapshotItems(10))
	b := newMemBucket()
	b.createErr = errors.New("503 slow down")
	if _, err := FlushPart(context.Background(), b, p, "t1", "s", 1); err == nil {
		t.Fatal("upload error not returned")
	}
	b.createErr = nil
	mp, err := FlushPart(context.Background(), b, p, "t1", "s", 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := VerifyPart(bytes.NewReader(b.get(t, "t1/snapshots/s/part-00001.parquet")), mp); err != nil {
		t.Fatal(err)
	}
	assertEmptyDir(t, dir)
}

func TestFlushPart_RejectsEmptyAndClosedParts(t *testing.T) {
	b := newMemBucket()
	if _, err := FlushPart(context.Background(), b, NewPart(t.TempDir()), "t1", "s", 0); !errors.Is(err, ErrEmptyPart) {
		t.Fatalf("empty part: %v", err)
	}
	p := fillPart(t, t.TempDir(), snapshotItems(1))
	if _, err := FlushPart(context.Background(), b, p, "t1", "s", 0); err != nil {
		t.Fatal(err)
	}
	if err := p.Append(snapshotItems(1)[0]); !errors.Is(err, ErrPartClosed) {
		t.Fatalf("append after flush: %v", err)
	}
	if _, err := FlushPart(context.Background(), b, p, "t1", "s", 1); !errors.Is(err, ErrPartClosed) {
		t.Fatalf("flush after flush: %v", err)
	}
}

func TestPart_DueAtRowsOrBytes(t *testing.T) {
	p := NewPart(t.TempDir())
	defer p.Discard()
	pol := PartPolicy{MaxRows: 2, MaxBytes: 1 << 30}
	if p.Due(pol) {
		t.Fatal("empty part due")
	}
	items := snapshotItems(2)
	if err := p.Append(items[0]); err != nil {
		t.Fatal(err)
	}
	if p.Due(pol) {
		t.Fatal("due below max rows")
	}
	if err := p.Append(items[1]); err != nil {
		t.Fatal(err)
	}
	if !p.Due(pol) {
		t.Fatal("not due at max rows")
	}
	want := int64(len(items[0].Keys) + len(items[0].Item) + len(items[1].Keys) + len(items[1].Item))
	if p.Bytes() != want {
		t.Fatalf("Bytes() = %d, want %d", p.Bytes(), want)
	}
	if p.Due(PartPolicy{MaxRows: 10, MaxBytes: want + 1}) || !p.Due(PartPolicy{MaxRows: 10, MaxBytes: want}) {
		t.Fatal("byte limit not applied")
	}
}

func TestPartPolicy_Validate(t *testing.T) {
	if err := DefaultPartPolicy().Validate(); err != nil {
		t.Fatal(err)
	}
	if DefaultPartPolicy() != (PartPolicy{MaxRows: 500_000, MaxBytes: 128 << 20}) {
		t.Fatalf("default %+v", DefaultPartPolicy())
	}
	for _, p := range []PartPolicy{{0, 1}, {1, 0}, {-1, -1}} {
		if err := p.Validate(); err == nil {
			t.Errorf("%+v accepted", p)
		}
	}
}

func TestVerifyPart_RejectsDamagedOrReplacedFiles(t *testing.T) {
	b := newMemBucket()
	mp, err := FlushPart(context.Background(), b, fillPart(t, t.TempDir(), snapshotItems(20)), "t1", "s", 4)
	if err != nil {
		t.Fatal(err)
	}
	data := b.get(t, "t1/snapshots/s/part-00004.parquet")
	flipped := bytes.Clone(data)
	flipped[len(flipped)/2] ^= 1
	tests := map[string][]byte{
		"one bit flipped": flipped,
		"truncated":       data[:len(data)-1],
		"extended":        append(bytes.Clone(data), 0),
		"empty":           nil,
	}
	for name, d := range tests {
		t.Run(name, func(t *testing.T) {
			err := VerifyPart(bytes.NewReader(d), mp)
			if !errors.Is(err, ErrChecksum) || !strings.Contains(err.Error(), "part-00004.parquet") {
				t.Fatalf("got %v, want ErrChecksum naming the part", err)
			}
		})
	}
}

func TestDownloadPart_VerifiesAndReturnsReadableFile(t *testing.T) {
	b := newMemBucket()
	items := snapshotItems(50)
	mp, err := FlushPart(context.Background(), b, fillPart(t, t.TempDir(), items), "t1", "s", 2)
	if err != nil {
		t.Fatal(err)
	}
	spool := t.TempDir()
	f, err := DownloadPart(context.Background(), b, "t1", "s", mp, spool)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	assertEmptyDir(t, spool) // unlinked: nothing to clean up
	r, err := NewPartReader(f)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var got []SnapshotItem
	for it, ok := r.Next(); ok; it, ok = r.Next() {
		got = append(got, it)
	}
	if r.Err() != nil || !reflect.DeepEqual(got, items) {
		t.Fatalf("read %d items, err %v", len(got), r.Err())
	}

	key := "t1/snapshots/s/part-00002.parquet"
	b.objects[key][10] ^= 0xff
	if _, err := DownloadPart(context.Background(), b, "t1", "s", mp, spool); !errors.Is(err, ErrChecksum) {
		t.Fatalf("damaged download: %v, want ErrChecksum", err)
	}
	if _, err := DownloadPart(context.Background(), b, "t1", "other", mp, spool); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("missing part: %v, want ErrNotFound", err)
	}
	assertEmptyDir(t, spool)
}

func TestPartReader_RejectsSegmentFile(t *testing.T) {
	_, data := flushOne(t, change(1))
	if _, err := ReadPart(data); !errors.Is(err, ErrUnknownSchema) {
		t.Fatalf("segment read as part: %v", err)
	}
	b := newMemBucket()
	if _, err := FlushPart(context.Background(), b, fillPart(t, t.TempDir(), snapshotItems(1)), "t", "s", 0); err != nil {
		t.Fatal(err)
	}
	rc, _ := b.Open(context.Background(), "t/snapshots/s/part-00000.parquet")
	part, _ := io.ReadAll(rc)
	if _, err := ReadChanges(part); !errors.Is(err, ErrUnknownSchema) {
		t.Fatalf("part read as segment: %v", err)
	}
}
