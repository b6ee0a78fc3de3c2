package writer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/ddbtape/ddbtape/shards"
	"github.com/ddbtape/ddbtape/storage"
)

var (
	// ErrOutOfOrder is returned by Append for a change whose sequence number is not after
	// the segment's last one: the reader handed records out of order or twice, which would
	// break the segment's name (its sequence range). Restart the shard from its checkpoint.
	ErrOutOfOrder = errors.New("change out of sequence order for its segment")
	// ErrWrongShard is returned by Append for a change of another table, stream or shard
	// than the segment's first change: a segment holds one shard.
	ErrWrongShard = errors.New("change belongs to another shard than its segment")
	// ErrEmptySegment is returned by Flush for a segment without records: there is nothing
	// to store, and no name to store it under.
	ErrEmptySegment = errors.New("segment has no records")
	// ErrSegmentClosed is returned when a segment is used after Flush succeeded or after
	// Discard: start a new segment with NewSegment.
	ErrSegmentClosed = errors.New("segment already flushed or discarded")
)

// RollPolicy says when a segment is complete and should be flushed: whichever limit is
// reached first.
type RollPolicy struct {
	MaxRecords int
	MaxBytes   int64         // approximate payload bytes (see Segment.Bytes)
	MaxAge     time.Duration // since the segment's first Append (wall clock)
}

// DefaultRollPolicy is 10,000 records, 64 MiB or 60 seconds: a minute of lag at most on a
// quiet table, and files large enough for query engines on a busy one.
func DefaultRollPolicy() RollPolicy {
	return RollPolicy{MaxRecords: 10_000, MaxBytes: 64 << 20, MaxAge: 60 * time.Second}
}

// Validate reports a limit that is not positive.
func (p RollPolicy) Validate() error {
	switch {
	case p.MaxRecords <= 0:
		return fmt.Errorf("roll policy: max records must be positive, got %d", p.MaxRecords)
	case p.MaxBytes <= 0:
		return fmt.Errorf("roll policy: max bytes must be positive, got %d", p.MaxBytes)
	case p.MaxAge <= 0:
		return fmt.Errorf("roll policy: max age must be positive, got %s", p.MaxAge)
	}
	return nil
}

// Segment collects the changes of one shard, in sequence order, into one Parquet change
// segment. Rows are encoded a row group at a time into a spool file, so memory stays
// bounded whatever the roll policy. A Segment is used by one goroutine.
//
// Life cycle: NewSegment, Append..., Flush (retry Flush after an error), or Discard at
// any point to drop it. Discard after a successful Flush is a no-op, so it can be deferred.
type Segment struct {
	sp spool

	table, streamARN, shardID string
	firstSeq, lastSeq         string
	firstTime                 time.Time
	openedAt                  time.Time
	n                         int
	bytes                     int64
	closed                    bool

	// Typed builders of the current row group, in schema order.
	str   [colCount]*array.StringBuilder
	times [2]*array.TimestampBuilder
	size  *array.Int64Builder

	seqKey [shards.SequenceKeyWidth]byte // scratch for the sequence_key column
}

// Column indexes of changeSchema.
const (
	iTableName = iota
	iStreamARN
	iShardID
	iSequenceNumber
	iSequenceKey
	iEventID
	iEventName
	iApproximateCreationTime
	iCapturedAt
	iKeys
	iNewImage
	iOldImage
	iSizeBytes
	iUserIdentity
	colCount
)

// fixedRowBytes approximates a row's non-string payload: two timestamps and a size.
const fixedRowBytes = 24

// NewSegment returns an empty segment that spools to spoolDir (the system temporary
// directory when empty). No file is created until the first Append.
func NewSegment(spoolDir string) *Segment {
	return &Segment{sp: newSpool(spoolDir, changeSchema, changeWriterProps(), maxGroupBytes)}
}

// Append adds a change. Changes must come from one table, stream and shard, with strictly
// increasing sequence numbers (decimal digits); otherwise Append returns an error wrapping
// ErrWrongShard or ErrOutOfOrder and the segment is unchanged.
func (s *Segment) Append(c Change) error {
	if s.closed {
		return ErrSegmentClosed
	}
	if err := s.check(c); err != nil {
		return err
	}
	if s.sp.err != nil {
		return errSpoolBroken
	}
	if s.n == 0 {
		if err := s.sp.open("ddbtape-segment-*.parquet"); err != nil {
			return err
		}
		s.bindBuilders()
		s.table, s.streamARN, s.shardID = c.TableName, c.StreamARN, c.ShardID
		s.firstSeq, s.firstTime, s.openedAt = c.SequenceNumber, c.ApproximateCreationTime, time.Now()
	}
	n := int64(fixedRowBytes + len(c.TableName) + len(c.StreamARN) + len(c.ShardID) + len(c.SequenceNumber) + max(len(c.SequenceNumber), shards.SequenceKeyWidth) +
		len(c.EventID) + len(c.EventName) + len(c.Keys) + nullableLen(c.NewImage) + nullableLen(c.OldImage) + nullableLen(c.UserIdentity))
	if err := s.sp.room(n); err != nil {
		return err
	}
	s.str[iTableName].Append(c.TableName)
	s.str[iStreamARN].Append(c.StreamARN)
	s.str[iShardID].Append(c.ShardID)
	s.str[iSequenceNumber].Append(c.SequenceNumber)
	// The padded key is built in scratch space: no allocation per record.
	s.str[iSequenceKey].BinaryBuilder.Append(shards.SequenceNumber(c.SequenceNumber).AppendKey(s.seqKey[:0]))
	s.str[iEventID].Append(c.EventID)
	s.str[iEventName].Append(c.EventName)
	s.times[0].Append(arrow.Timestamp(c.ApproximateCreationTime.UnixMilli()))
	s.times[1].Append(arrow.Timestamp(c.CapturedAt.UnixMilli()))
	s.str[iKeys].Append(c.Keys)
	appendNullable(s.str[iNewImage], c.NewImage)
	appendNullable(s.str[iOldImage], c.OldImage)
	s.size.Append(c.SizeBytes)
	appendNullable(s.str[iUserIdentity], c.UserIdentity)

	s.n++
	s.bytes += n
	s.lastSeq = c.SequenceNumber
	s.sp.rowAdded(n)
	return nil
}

func appendNullable(b *array.StringBuilder, v *string) {
	if v == nil {
		b.AppendNull()
		return
	}
	b.Append(*v)
}

func nullableLen(v *string) int {
	if v == nil {
		return 0
	}
	return len(*v)
}

func (s *Segment) bindBuilders() {
	for i := range colCount {
		switch b := s.sp.rb.Field(i).(type) {
		case *array.StringBuilder:
			s.str[i] = b
		case *array.TimestampBuilder:
			s.times[i-iApproximateCreationTime] = b
		case *array.Int64Builder:
			s.size = b
		}
	}
}

// check validates c against the segment before anything is buffered.
func (s *Segment) check(c Change) error {
	switch {
	case c.TableName == "":
		return errors.New("append change: empty table name")
	case c.ShardID == "" || strings.ContainsAny(c.ShardID, "_/"):
		// Segment names separate shard id and sequence numbers with '_'.
		return fmt.Errorf("append change: invalid shard id %q", c.ShardID)
	case !shards.SequenceNumber(c.SequenceNumber).Valid():
		return fmt.Errorf("append change of shard %s: sequence number %q is not decimal digits", c.ShardID, c.SequenceNumber)
	}
	if s.n == 0 {
		return nil
	}
	if c.TableName != s.table || c.StreamARN != s.streamARN || c.ShardID != s.shardID {
		return fmt.Errorf("append change of %s/%s to segment of %s/%s: %w", c.TableName, c.ShardID, s.table, s.shardID, ErrWrongShard)
	}
	if shards.SequenceNumber(c.SequenceNumber).Compare(shards.SequenceNumber(s.lastSeq)) <= 0 {
		return fmt.Errorf("append change of shard %s: sequence number %s is not after %s: %w", c.ShardID, c.SequenceNumber, s.lastSeq, ErrOutOfOrder)
	}
	return nil
}

// Len is the number of changes appended.
func (s *Segment) Len() int { return s.n }

// Bytes approximates the segment's payload: the lengths of its strings plus the fixed-size
// columns. The Parquet file is smaller (compressed).
func (s *Segment) Bytes() int64 { return s.bytes }

// OpenedAt is the wall-clock time of the first Append; zero for an empty segment.
func (s *Segment) OpenedAt() time.Time { return s.openedAt }

// Due reports whether the segment reached a limit of p at now. An empty segment is never
// due.
func (s *Segment) Due(p RollPolicy, now time.Time) bool {
	if s.n == 0 {
		return false
	}
	return s.n >= p.MaxRecords || s.bytes >= p.MaxBytes || now.Sub(s.openedAt) >= p.MaxAge
}

// Name is the segment's identity: table, shard, first and last sequence numbers (padded),
// and the UTC hour of its first change's approximate creation time.
func (s *Segment) Name() SegmentName {
	return SegmentName{
		Table:    s.table,
		ShardID:  s.shardID,
		FirstSeq: shards.SequenceNumber(s.firstSeq).Key(),
		LastSeq:  shards.SequenceNumber(s.lastSeq).Key(),
		Hour:     s.firstTime.UTC().Truncate(time.Hour),
	}
}

// Discard drops the segment and its spool file. It is safe to call at any time, more than
// once, and after Flush.
func (s *Segment) Discard() {
	s.closed = true
	s.sp.remove()
}

// StoredSegment is a change segment once stored: its name and the stored file's size and
// SHA-256 (lowercase hex), which capture records in the ledger for readers to check.
type StoredSegment struct {
	Name   SegmentName
	Size   int64
	SHA256 string
}

// Flush stores the segment under its Name's key with Create and removes the spool file.
// When it returns nil the segment is durable and the caller may checkpoint its last
// sequence number. The body is sealed with its SHA-256 (storage.Sealed), so the backend
// checks what it stores and S3 keeps the checksum. An object already under that key
// counts as success: the same shard and sequence range hold the same records (a crash
// after upload, before checkpoint, re-reads them); the size and SHA-256 returned are then
// the stored file's, read back, since its bytes may differ from these (captured_at).
// After an error the segment is intact and Flush can be retried.
func Flush(ctx context.Context, b storage.Bucket, s *Segment) (StoredSegment, error) {
	if s.closed {
		return StoredSegment{}, ErrSegmentClosed
	}
	if s.n == 0 {
		return StoredSegment{}, ErrEmptySegment
	}
	name := s.Name()
	key := name.Key()
	f, err := s.sp.finish()
	if err != nil {
		return StoredSegment{}, fmt.Errorf("finish segment %s: %w", key, err)
	}
	// Hashing the spool file (in the page cache) before the upload rather than teeing it
	// lets the seal travel with the body, so the backend checks the bytes it sends.
	sum, size, err := storage.HashReader(f)
	if err != nil {
		return StoredSegment{}, fmt.Errorf("checksum segment %s: %w", key, err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return StoredSegment{}, fmt.Errorf("rewind segment %s: %w", key, err)
	}
	st := StoredSegment{Name: name, Size: size, SHA256: sum}
	if err := b.Create(ctx, key, storage.Sealed(f, sum)); err != nil {
		if !errors.Is(err, storage.ErrExists) {
			return StoredSegment{}, fmt.Errorf("store segment %s: %w", key, err)
		}
		if st.SHA256, st.Size, err = hashStored(ctx, b, key); err != nil {
			return StoredSegment{}, fmt.Errorf("store segment %s: it is stored already, and reading it back failed: %w", key, err)
		}
	}
	s.Discard()
	return st, nil
}

// hashStored reads the object under key and returns its SHA-256 and size.
func hashStored(ctx context.Context, b storage.Bucket, key string) (string, int64, error) {
	rc, err := b.Open(ctx, key)
	if err != nil {
		return "", 0, err
	}
	defer rc.Close()
	return storage.HashReader(rc)
}
