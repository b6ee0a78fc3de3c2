package writer

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

// Readers of stored files meet whatever a disk, a bucket or a person left there. These
// targets feed arbitrary bytes to the segment and part readers and arbitrary keys to the
// segment-name parser: an error is fine, a panic or an unclassified error is not.
// Seeds: generated valid files below, plus testdata/fuzz/Fuzz*.

// fuzzSegment returns a small valid segment file with every column used.
func fuzzSegment(f *testing.F) []byte {
	f.Helper()
	s := NewSegment(f.TempDir())
	img := `{"pk":{"S":"a"},"n":{"N":"1.5"},"b":{"B":"AAE="}}`
	at := time.Date(2026, 11, 21, 19, 4, 0, 0, time.UTC)
	for i, ev := range []string{"INSERT", "MODIFY", "REMOVE"} {
		c := Change{TableName: "orders", StreamARN: "arn:aws:dynamodb:us-east-1:1:table/orders/stream/x", ShardID: "shardId-00000001795289040308-88c8bb5e",
			SequenceNumber: fmt.Sprintf("1000000000000000000%02d", i+1), EventID: fmt.Sprintf("ev%d", i), EventName: ev,
			ApproximateCreationTime: at, CapturedAt: at.Add(time.Second), Keys: `{"pk":{"S":"a"}}`, SizeBytes: 42}
		switch ev {
		case "INSERT":
			c.NewImage = &img
		case "MODIFY":
			c.NewImage, c.OldImage = &img, &img
		case "REMOVE":
			c.OldImage = &img
			ttl := "dynamodb.amazonaws.com"
			c.UserIdentity = &ttl
		}
		if err := s.Append(c); err != nil {
			f.Fatal(err)
		}
	}
	b := newMemBucket()
	stored, err := Flush(context.Background(), b, s)
	name := stored.Name
	if err != nil {
		f.Fatal(err)
	}
	return b.objects[name.Key()]
}

// fuzzPart returns a small valid snapshot part file.
func fuzzPart(f *testing.F) []byte {
	f.Helper()
	p := NewPart(f.TempDir())
	for _, it := range snapshotItems(3) {
		if err := p.Append(it); err != nil {
			f.Fatal(err)
		}
	}
	b := newMemBucket()
	mp, err := FlushPart(context.Background(), b, p, "orders", "20261121T190412Z-ab12", 0)
	if err != nil {
		f.Fatal(err)
	}
	return b.objects[SnapshotDir("orders", "20261121T190412Z-ab12")+mp.Name]
}

// addDamaged seeds data whole, truncated at a few places and with a few flipped bytes.
func addDamaged(f *testing.F, data []byte) {
	f.Add(data)
	for _, n := range []int{len(data) - 1, len(data) - 8, len(data) / 2, 4} {
		if n > 0 && n < len(data) {
			f.Add(data[:n])
		}
	}
	for _, at := range []int{4, len(data) / 3, len(data) - 12} {
		if at > 0 && at < len(data) {
			d := append([]byte(nil), data...)
			d[at] ^= 0xff
			f.Add(d)
		}
	}
}

// readerError checks that a reader's error is one a restore can name: ErrCorrupt or
// ErrUnknownSchema.
func readerError(t *testing.T, err error) {
	t.Helper()
	if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrUnknownSchema) {
		t.Fatalf("error wraps neither ErrCorrupt nor ErrUnknownSchema: %v", err)
	}
}

func FuzzReadChanges(f *testing.F) {
	seg, part := fuzzSegment(f), fuzzPart(f)
	addDamaged(f, seg)
	f.Add(part)
	f.Add([]byte{})
	f.Add([]byte("PAR1PAR1"))
	f.Fuzz(func(t *testing.T, data []byte) {
		changes, err := ReadChanges(data)
		if err != nil {
			readerError(t, err)
			return
		}
		// Whatever reads cleanly reads the same way twice (no state leaks between readers).
		again, err := ReadChanges(data)
		if err != nil || len(again) != len(changes) {
			t.Fatalf("second read differs: %d vs %d changes, %v", len(again), len(changes), err)
		}
		for i := range changes {
			if changes[i].SequenceNumber != again[i].SequenceNumber || changes[i].Keys != again[i].Keys {
				t.Fatalf("row %d differs between two reads", i)
			}
		}
	})
}

func FuzzReadPart(f *testing.F) {
	seg, part := fuzzSegment(f), fuzzPart(f)
	addDamaged(f, part)
	f.Add(seg)
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		items, err := ReadPart(data)
		if err != nil {
			readerError(t, err)
			return
		}
		again, err := ReadPart(data)
		if err != nil || len(again) != len(items) {
			t.Fatalf("second read differs: %d vs %d items, %v", len(again), len(items), err)
		}
	})
}

// FuzzParseSegmentKey checks the parser never panics and that the key a parsed name
// prints is a fixed point: it parses back to a name that prints the same key. Restore
// plans from names alone, so a name that changes when printed would misplace a segment.
func FuzzParseSegmentKey(f *testing.F) {
	for _, k := range []string{
		"orders/changes/dt=2026-11-21/hour=19/shardId-00000001795289040308-88c8bb5e_0000000000000000000000000000000000000001_0000000000000000000000000000000000000400.parquet",
		"a/b/changes/dt=2026-01-01/hour=00/s_1_2.parquet",
		"orders/changes/dt=2026-11-21/hour=7/s_1_2.parquet",
		"orders/changes/dt=2026-02-30/hour=19/s_1_2.parquet",
		"orders/changes/dt=2026-11-21/hour=19/.s_1_2.parquet.tmp-123",
		"orders/changes/dt=2026-11-21/hour=19/_1_2.parquet",
		"changes/dt=2026-11-21/hour=19/s_1_2.parquet",
		"orders/checkpoints/orders.json",
	} {
		f.Add(k)
	}
	f.Fuzz(func(t *testing.T, key string) {
		n, ok := ParseSegmentKey(key)
		if !ok {
			return
		}
		if n.ShardID == "" || n.FirstSeq == "" || n.LastSeq == "" {
			t.Fatalf("ParseSegmentKey(%q) accepted an empty field: %+v", key, n)
		}
		k2 := n.Key()
		n2, ok := ParseSegmentKey(k2)
		if !ok {
			t.Fatalf("the key %q printed for %q does not parse", k2, key)
		}
		if k3 := n2.Key(); k3 != k2 {
			t.Fatalf("key not a fixed point: %q -> %q -> %q", key, k2, k3)
		}
		if n2.Table != n.Table || n2.ShardID != n.ShardID || !n2.Hour.Equal(n.Hour) {
			t.Fatalf("printing changed the name: %+v -> %+v", n, n2)
		}
	})
}
