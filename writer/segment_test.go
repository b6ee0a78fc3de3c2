package writer

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/ddbtape/ddbtape/ddbjson"
	"github.com/ddbtape/ddbtape/shards"
	"github.com/ddbtape/ddbtape/storage"
)

// flushOne writes changes into a new segment, flushes it to a memory bucket and returns
// the stored bytes.
func flushOne(t *testing.T, changes ...Change) (SegmentName, []byte) {
	t.Helper()
	s := NewSegment(t.TempDir())
	for _, c := range changes {
		if err := s.Append(c); err != nil {
			t.Fatal(err)
		}
	}
	b := newMemBucket()
	stored, err := Flush(context.Background(), b, s)
	name := stored.Name
	if err != nil {
		t.Fatal(err)
	}
	return name, b.get(t, name.Key())
}

func everyTypeItem(t *testing.T) string {
	t.Helper()
	s, err := ddbjson.FromDynamoDB(map[string]ddbtypes.AttributeValue{
		"pk":   &ddbtypes.AttributeValueMemberS{Value: "user#1 ✓ \"quoted\"\n"},
		"e":    &ddbtypes.AttributeValueMemberS{Value: ""},
		"n":    &ddbtypes.AttributeValueMemberN{Value: "-12345678901234567890123456789012345678"},
		"b":    &ddbtypes.AttributeValueMemberB{Value: []byte{0, 0xff, 7}},
		"t":    &ddbtypes.AttributeValueMemberBOOL{Value: true},
		"null": &ddbtypes.AttributeValueMemberNULL{Value: true},
		"ss":   &ddbtypes.AttributeValueMemberSS{Value: []string{"b", "a"}},
		"ns":   &ddbtypes.AttributeValueMemberNS{Value: []string{"1", "1.5E+100"}},
		"bs":   &ddbtypes.AttributeValueMemberBS{Value: [][]byte{{1}, {2, 3}}},
		"l": &ddbtypes.AttributeValueMemberL{Value: []ddbtypes.AttributeValue{
			&ddbtypes.AttributeValueMemberM{Value: map[string]ddbtypes.AttributeValue{"x": &ddbtypes.AttributeValueMemberBOOL{}}},
		}},
		"m": &ddbtypes.AttributeValueMemberM{Value: map[string]ddbtypes.AttributeValue{"日本": &ddbtypes.AttributeValueMemberS{Value: "語"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSegment_RoundTripsEveryAttributeTypeAndNullColumn(t *testing.T) {
	item := everyTypeItem(t)
	insert := change(1)
	insert.EventName, insert.NewImage, insert.OldImage = "INSERT", &item, nil
	modify := change(2)
	modify.NewImage, modify.OldImage = &item, &item
	remove := change(3)
	remove.EventName, remove.NewImage = "REMOVE", nil
	ttl := change(4)
	ttl.EventName, ttl.NewImage, ttl.UserIdentity = "REMOVE", nil, ptr("dynamodb.amazonaws.com")
	keysOnly := change(5)
	keysOnly.NewImage, keysOnly.OldImage, keysOnly.EventID, keysOnly.SizeBytes = nil, nil, "", 0
	emptyImage := change(6)
	emptyImage.NewImage = ptr("{}")
	in := []Change{insert, modify, remove, ttl, keysOnly, emptyImage}

	_, data := flushOne(t, in...)
	out, err := ReadChanges(data)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(in, out) {
		t.Fatalf("round trip differs\nin:  %+v\nout: %+v", in, out)
	}
	m, err := ddbjson.ToDynamoDB(*out[0].NewImage)
	if err != nil {
		t.Fatalf("stored image does not decode: %v", err)
	}
	if back, _ := ddbjson.FromDynamoDB(m); back != item {
		t.Fatalf("image changed in storage:\n%s\n%s", item, back)
	}
}

func TestSegment_StoresTimesAsUTCMilliseconds(t *testing.T) {
	c := change(1)
	c.ApproximateCreationTime = time.Date(2024, 1, 2, 3, 4, 5, 678_900_000, time.FixedZone("X", 5*3600))
	c.CapturedAt = c.ApproximateCreationTime.Add(time.Microsecond)
	_, data := flushOne(t, c)
	out, err := ReadChanges(data)
	if err != nil {
		t.Fatal(err)
	}
	want := time.Date(2024, 1, 1, 22, 4, 5, 678_000_000, time.UTC)
	if got := out[0].ApproximateCreationTime; !got.Equal(want) || got.Location() != time.UTC {
		t.Fatalf("approximate creation time %v, want %v", got, want)
	}
	if got := out[0].CapturedAt; !got.Equal(want) {
		t.Fatalf("captured at %v, want %v", got, want)
	}
}

func TestFlush_StoresUnderTheSegmentKey(t *testing.T) {
	first, last := change(1), change(2)
	first.ApproximateCreationTime = time.Date(2024, 5, 17, 12, 59, 59, 0, time.FixedZone("CEST", 2*3600))
	last.ApproximateCreationTime = time.Date(2024, 5, 17, 11, 0, 1, 0, time.UTC)
	name, _ := flushOne(t, first, last)
	want := "orders/changes/dt=2024-05-17/hour=10/shardId-00000001-abc_" +
		"0000000000000000000000100000000000000001_0000000000000000000000100000000000000002.parquet"
	if got := name.Key(); got != want {
		t.Fatalf("key %s\nwant %s", got, want)
	}
	parsed, ok := ParseSegmentKey(name.Key())
	if !ok || !reflect.DeepEqual(parsed, name) {
		t.Fatalf("ParseSegmentKey(%s) = %+v, %v; want %+v", name.Key(), parsed, ok, name)
	}
}

func TestFlush_ExistingObjectCountsAsDurable(t *testing.T) {
	dir := t.TempDir()
	s := NewSegment(dir)
	if err := s.Append(change(1)); err != nil {
		t.Fatal(err)
	}
	b := newMemBucket()
	b.objects[s.Name().Key()] = []byte("stored by the run before the crash")
	stored, err := Flush(context.Background(), b, s)
	name := stored.Name
	if err != nil {
		t.Fatalf("flush over an existing object: %v", err)
	}
	if name != s.Name() {
		t.Fatalf("name %+v, want %+v", name, s.Name())
	}
	if got := string(b.get(t, name.Key())); got != "stored by the run before the crash" {
		t.Fatal("existing object was replaced")
	}
	// What the ledger will record is the stored file, read back, not the bytes this run
	// would have written.
	want := sha256.Sum256([]byte("stored by the run before the crash"))
	if stored.SHA256 != hex.EncodeToString(want[:]) || stored.Size != int64(len("stored by the run before the crash")) {
		t.Fatalf("stored %+v, want the size and SHA-256 of the object already there", stored)
	}
	assertEmptyDir(t, dir)
}

func TestFlush_FailedUploadKeepsSegmentForRetry(t *testing.T) {
	dir := t.TempDir()
	s := NewSegment(dir)
	in := []Change{change(1), change(2)}
	for _, c := range in {
		if err := s.Append(c); err != nil {
			t.Fatal(err)
		}
	}
	b := newMemBucket()
	b.createErr = errors.New("connection reset")
	if _, err := Flush(context.Background(), b, s); err == nil || !strings.Contains(err.Error(), "connection reset") {
		t.Fatalf("flush error %v, want the upload error", err)
	}
	b.createErr = nil
	stored, err := Flush(context.Background(), b, s)
	name := stored.Name
	if err != nil {
		t.Fatalf("retried flush: %v", err)
	}
	data := b.get(t, name.Key())
	out, err := ReadChanges(data)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(in, out) {
		t.Fatalf("retried flush stored %+v", out)
	}
	if sum := sha256.Sum256(data); stored.SHA256 != hex.EncodeToString(sum[:]) || stored.Size != int64(len(data)) {
		t.Fatalf("stored %+v does not describe the stored file", stored)
	}
	assertEmptyDir(t, dir)
}

func TestFlush_RejectsEmptyAndClosedSegments(t *testing.T) {
	b := newMemBucket()
	if _, err := Flush(context.Background(), b, NewSegment(t.TempDir())); !errors.Is(err, ErrEmptySegment) {
		t.Fatalf("empty segment: %v, want ErrEmptySegment", err)
	}
	s := NewSegment(t.TempDir())
	if err := s.Append(change(1)); err != nil {
		t.Fatal(err)
	}
	if _, err := Flush(context.Background(), b, s); err != nil {
		t.Fatal(err)
	}
	if _, err := Flush(context.Background(), b, s); !errors.Is(err, ErrSegmentClosed) {
		t.Fatalf("second flush: %v, want ErrSegmentClosed", err)
	}
	if err := s.Append(change(2)); !errors.Is(err, ErrSegmentClosed) {
		t.Fatalf("append after flush: %v, want ErrSegmentClosed", err)
	}
	if s.Len() != 1 {
		t.Fatalf("Len after flush = %d, want 1 (callers log it)", s.Len())
	}
	s.Discard() // deferred by callers: harmless after Flush
	if b.creates != 1 {
		t.Fatalf("%d uploads, want 1", b.creates)
	}
}

func TestSegment_DiscardRemovesSpoolFile(t *testing.T) {
	dir := t.TempDir()
	s := NewSegment(dir)
	if err := s.Append(change(1)); err != nil {
		t.Fatal(err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Fatalf("want one spool file while writing, have %d", len(entries))
	}
	s.Discard()
	s.Discard()
	assertEmptyDir(t, dir)
	if err := s.Append(change(2)); !errors.Is(err, ErrSegmentClosed) {
		t.Fatalf("append after discard: %v", err)
	}
}

func TestSegment_NewSegmentCreatesNoFileUntilAppend(t *testing.T) {
	dir := t.TempDir()
	s := NewSegment(dir)
	assertEmptyDir(t, dir)
	s.Discard()
}

func TestSegment_AppendRejectsChangesThatBreakTheSegment(t *testing.T) {
	otherShard := change(5)
	otherShard.ShardID = "shardId-00000002-abc"
	otherTable := change(5)
	otherTable.TableName = "invoices"
	otherStream := change(5)
	otherStream.StreamARN += "x"
	underscore := change(5)
	underscore.ShardID = "shard_1"
	slash := change(5)
	slash.ShardID = "a/b"
	noTable := change(5)
	noTable.TableName = ""
	letters := change(5)
	letters.SequenceNumber = "12a"
	noSeq := change(5)
	noSeq.SequenceNumber = ""
	tests := []struct {
		name   string
		c      Change
		target error
	}{
		{"same sequence number", change(3), ErrOutOfOrder},
		{"earlier sequence number", change(2), ErrOutOfOrder},
		{"other shard", otherShard, ErrWrongShard},
		{"other table", otherTable, ErrWrongShard},
		{"other stream", otherStream, ErrWrongShard},
		{"underscore in shard id", underscore, nil},
		{"slash in shard id", slash, nil},
		{"empty table", noTable, nil},
		{"non-digit sequence number", letters, nil},
		{"empty sequence number", noSeq, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewSegment(t.TempDir())
			defer s.Discard()
			for _, seq := range []int{1, 3} {
				if err := s.Append(change(seq)); err != nil {
					t.Fatal(err)
				}
			}
			err := s.Append(tt.c)
			if err == nil {
				t.Fatal("accepted")
			}
			if tt.target != nil && !errors.Is(err, tt.target) {
				t.Fatalf("error %v, want %v", err, tt.target)
			}
			if s.Len() != 2 || s.Name().LastSeq != shards.SequenceNumber(change(3).SequenceNumber).Key() {
				t.Fatalf("rejected change altered the segment: len %d, name %+v", s.Len(), s.Name())
			}
			if err := s.Append(change(4)); err != nil {
				t.Fatalf("segment unusable after a rejected change: %v", err)
			}
		})
	}
}

func TestRollPolicy_Validate(t *testing.T) {
	good := DefaultRollPolicy()
	tests := []struct {
		name   string
		edit   func(*RollPolicy)
		errSay string
	}{
		{"default", func(*RollPolicy) {}, ""},
		{"zero records", func(p *RollPolicy) { p.MaxRecords = 0 }, "max records"},
		{"negative bytes", func(p *RollPolicy) { p.MaxBytes = -1 }, "max bytes"},
		{"zero age", func(p *RollPolicy) { p.MaxAge = 0 }, "max age"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := good
			tt.edit(&p)
			err := p.Validate()
			if (err == nil) != (tt.errSay == "") || (err != nil && !strings.Contains(err.Error(), tt.errSay)) {
				t.Fatalf("Validate() = %v, want error naming %q", err, tt.errSay)
			}
		})
	}
	if good != (RollPolicy{MaxRecords: 10_000, MaxBytes: 64 << 20, MaxAge: time.Minute}) {
		t.Fatalf("default policy %+v", good)
	}
}

func TestSegment_DueAtEachLimit(t *testing.T) {
	p := RollPolicy{MaxRecords: 3, MaxBytes: 1 << 30, MaxAge: time.Hour}
	s := NewSegment(t.TempDir())
	defer s.Discard()
	if s.Due(p, time.Now().Add(24*time.Hour)) {
		t.Fatal("empty segment is due")
	}
	for seq := 1; seq <= 3; seq++ {
		if s.Due(p, time.Now()) {
			t.Fatalf("due after %d records", s.Len())
		}
		if err := s.Append(change(seq)); err != nil {
			t.Fatal(err)
		}
	}
	if !s.Due(p, time.Now()) {
		t.Fatal("not due at max records")
	}

	s2 := NewSegment(t.TempDir())
	defer s2.Discard()
	if err := s2.Append(change(1)); err != nil {
		t.Fatal(err)
	}
	byBytes := RollPolicy{MaxRecords: 100, MaxBytes: s2.Bytes() + 1, MaxAge: time.Hour}
	if s2.Due(byBytes, s2.OpenedAt()) {
		t.Fatal("due below max bytes")
	}
	if err := s2.Append(change(2)); err != nil {
		t.Fatal(err)
	}
	if !s2.Due(byBytes, s2.OpenedAt()) {
		t.Fatal("not due past max bytes")
	}

	byAge := RollPolicy{MaxRecords: 100, MaxBytes: 1 << 30, MaxAge: time.Minute}
	if s2.Due(byAge, s2.OpenedAt().Add(59*time.Second)) {
		t.Fatal("due before max age")
	}
	if !s2.Due(byAge, s2.OpenedAt().Add(time.Minute)) {
		t.Fatal("not due at max age")
	}
}

func TestSegment_OpenedAtIsFirstAppendWallClock(t *testing.T) {
	s := NewSegment(t.TempDir())
	defer s.Discard()
	if !s.OpenedAt().IsZero() {
		t.Fatal("empty segment has an opening time")
	}
	before := time.Now()
	c := change(1)
	c.ApproximateCreationTime = before.Add(-time.Hour) // old records: age is not theirs
	if err := s.Append(c); err != nil {
		t.Fatal(err)
	}
	opened := s.OpenedAt()
	if opened.Before(before) || opened.After(time.Now()) {
		t.Fatalf("OpenedAt %v not the time of the first Append", opened)
	}
	if err := s.Append(change(2)); err != nil {
		t.Fatal(err)
	}
	if s.OpenedAt() != opened {
		t.Fatal("OpenedAt moved on the second Append")
	}
}

func TestSegment_BytesSumsStringPayload(t *testing.T) {
	s := NewSegment(t.TempDir())
	defer s.Discard()
	c := change(1)
	if err := s.Append(c); err != nil {
		t.Fatal(err)
	}
	want := int64(fixedRowBytes + len(c.TableName) + len(c.StreamARN) + len(c.ShardID) + 2*len(c.SequenceNumber) +
		(shards.SequenceKeyWidth - len(c.SequenceNumber)) + len(c.EventID) + len(c.EventName) + len(c.Keys) + len(*c.NewImage) + len(*c.OldImage))
	if s.Bytes() != want {
		t.Fatalf("Bytes() = %d, want %d", s.Bytes(), want)
	}
}

func assertEmptyDir(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 0 {
		t.Fatalf("spool dir not empty: %v", entries)
	}
}

var _ storage.Bucket = (*memBucket)(nil)
