package writer

import (
	"errors"
	"fmt"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
)

// ErrUnknownSchema is wrapped when a Parquet file's columns are not the ones this version
// of ddbtape writes: a file from another tool or from a newer ddbtape. Upgrade ddbtape, or
// move the file out of the backup tree.
var ErrUnknownSchema = errors.New("unknown Parquet schema (not a ddbtape file of a known version)")

// Column names of change segments, in order (DESIGN.md, "Change segment schema").
const (
	colTableName               = "table_name"
	colStreamARN               = "stream_arn"
	colShardID                 = "shard_id"
	colSequenceNumber          = "sequence_number"
	colSequenceKey             = "sequence_key"
	colEventID                 = "event_id"
	colEventName               = "event_name"
	colApproximateCreationTime = "approximate_creation_time"
	colCapturedAt              = "captured_at"
	colKeys                    = "keys"
	colNewImage                = "new_image"
	colOldImage                = "old_image"
	colSizeBytes               = "size_bytes"
	colUserIdentity            = "user_identity"
	colItem                    = "item"
)

// timestampUTC is how every time is stored: milliseconds, adjusted to UTC, so query engines
// read the columns as instants rather than local wall-clock times.
var timestampUTC = &arrow.TimestampType{Unit: arrow.Millisecond, TimeZone: "UTC"}

// changeSchema is the Arrow schema of change segments; its Parquet form is what readers
// check for.
var changeSchema = arrow.NewSchema([]arrow.Field{
	{Name: colTableName, Type: arrow.BinaryTypes.String},
	{Name: colStreamARN, Type: arrow.BinaryTypes.String},
	{Name: colShardID, Type: arrow.BinaryTypes.String},
	{Name: colSequenceNumber, Type: arrow.BinaryTypes.String},
	{Name: colSequenceKey, Type: arrow.BinaryTypes.String},
	{Name: colEventID, Type: arrow.BinaryTypes.String},
	{Name: colEventName, Type: arrow.BinaryTypes.String},
	{Name: colApproximateCreationTime, Type: timestampUTC},
	{Name: colCapturedAt, Type: timestampUTC},
	{Name: colKeys, Type: arrow.BinaryTypes.String},
	{Name: colNewImage, Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: colOldImage, Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: colSizeBytes, Type: arrow.PrimitiveTypes.Int64},
	{Name: colUserIdentity, Type: arrow.BinaryTypes.String, Nullable: true},
}, nil)

// snapshotSchema is the Arrow schema of snapshot parts: the item's key and whole item.
var snapshotSchema = arrow.NewSchema([]arrow.Field{
	{Name: colKeys, Type: arrow.BinaryTypes.String},
	{Name: colItem, Type: arrow.BinaryTypes.String},
}, nil)

// dataPageSize is 64 KiB, Snappy's block, where Arrow's default is 1 MiB: the encoder
// builds and compresses each page in buffers it allocates afresh, and pages of 1 MiB made
// those large, zeroed allocations a good part of encoding's CPU. Measured with -cpu 1, at
// 1 MiB then 64 KiB: BenchmarkSegmentEncode 1.58 then 1.35 µs a record, BenchmarkPartEncode
// 758 then 556 ns, BenchmarkChangeReader 1.16 then 1.04 µs, and segments 5% smaller.
const dataPageSize = 64 << 10

// changeWriterProps: Snappy everywhere, no dictionary encoding. A dictionary would suit
// the repeated columns (table, stream, shard, event name), but Arrow's dictionary encoder
// allocates for every value it sees; measured on 10,000-record segments of ~300-byte
// items, turning it off made encoding about 15% cheaper in CPU and files about 10% larger
// (Snappy already shrinks the repeated strings to a few bytes a row). Statistics are kept
// for the columns restores and analysts filter on (sequence key, times), not for the
// large JSON columns, where min/max are useless and bloat the footer.
func changeWriterProps() *parquet.WriterProperties {
	opts := []parquet.WriterProperty{
		parquet.WithCompression(compress.Codecs.Snappy),
		parquet.WithDictionaryDefault(false),
		parquet.WithStats(false),
		parquet.WithCreatedBy("ddbtape"),
		parquet.WithAllocator(writerMemory),
		parquet.WithMaxRowGroupLength(maxGroupRows),
		parquet.WithDataPageSize(dataPageSize),
	}
	for _, c := range []string{colSequenceKey, colApproximateCreationTime, colCapturedAt} {
		opts = append(opts, parquet.WithStatsFor(c, true))
	}
	return parquet.NewWriterProperties(opts...)
}

// snapshotWriterProps: both columns are unique JSON; see changeWriterProps.
func snapshotWriterProps() *parquet.WriterProperties {
	return parquet.NewWriterProperties(
		parquet.WithCompression(compress.Codecs.Snappy),
		parquet.WithDictionaryDefault(false),
		parquet.WithStats(false),
		parquet.WithCreatedBy("ddbtape"),
		parquet.WithAllocator(writerMemory),
		parquet.WithMaxRowGroupLength(maxGroupRows),
		parquet.WithDataPageSize(dataPageSize),
	)
}

// checkSchema compares a file's schema (as pqarrow reads it) with the expected one: same
// columns in the same order, same types, same nullability. The error wraps
// ErrUnknownSchema and names the first difference.
func checkSchema(got, want *arrow.Schema) error {
	gf, wf := got.Fields(), want.Fields()
	for i := 0; i < len(gf) && i < len(wf); i++ {
		g, w := gf[i], wf[i]
		switch {
		case g.Name != w.Name:
			return fmt.Errorf("%w: column %d is %q, want %q", ErrUnknownSchema, i, g.Name, w.Name)
		case !arrow.TypeEqual(g.Type, w.Type):
			return fmt.Errorf("%w: column %q has type %s, want %s", ErrUnknownSchema, g.Name, g.Type, w.Type)
		case g.Nullable != w.Nullable:
			return fmt.Errorf("%w: column %q nullable=%v, want nullable=%v", ErrUnknownSchema, g.Name, g.Nullable, w.Nullable)
		}
	}
	if len(gf) != len(wf) {
		return fmt.Errorf("%w: %d columns (%s), want %d (%s)", ErrUnknownSchema, len(gf), fieldNames(gf), len(wf), fieldNames(wf))
	}
	return nil
}

func fieldNames(fs []arrow.Field) string {
	names := make([]string, len(fs))
	for i, f := range fs {
		names[i] = f.Name
	}
	return strings.Join(names, ", ")
}
