package writer

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/apache/arrow-go/v18/parquet/schema"
)

type wantColumn struct {
	name     string
	physical parquet.Type
	logical  schema.LogicalType
	optional bool
}

var (
	utf8Logical = schema.StringLogicalType{}
	tsLogical   = schema.NewTimestampLogicalType(true, schema.TimeUnitMillis)
)

// The design's table, written out independently of changeSchema so a change to either is
// caught here.
var designChangeColumns = []wantColumn{
	{"table_name", parquet.Types.ByteArray, utf8Logical, false},
	{"stream_arn", parquet.Types.ByteArray, utf8Logical, false},
	{"shard_id", parquet.Types.ByteArray, utf8Logical, false},
	{"sequence_number", parquet.Types.ByteArray, utf8Logical, false},
	{"sequence_key", parquet.Types.ByteArray, utf8Logical, false},
	{"event_id", parquet.Types.ByteArray, utf8Logical, false},
	{"event_name", parquet.Types.ByteArray, utf8Logical, false},
	{"approximate_creation_time", parquet.Types.Int64, tsLogical, false},
	{"captured_at", parquet.Types.Int64, tsLogical, false},
	{"keys", parquet.Types.ByteArray, utf8Logical, false},
	{"new_image", parquet.Types.ByteArray, utf8Logical, true},
	{"old_image", parquet.Types.ByteArray, utf8Logical, true},
	{"size_bytes", parquet.Types.Int64, nil, false},
	{"user_identity", parquet.Types.ByteArray, utf8Logical, true},
}

var designSnapshotColumns = []wantColumn{
	{"keys", parquet.Types.ByteArray, utf8Logical, false},
	{"item", parquet.Types.ByteArray, utf8Logical, false},
}

func checkParquetColumns(t *testing.T, data []byte, want []wantColumn) {
	t.Helper()
	pf, err := file.NewParquetReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	sc := pf.MetaData().Schema
	if sc.NumColumns() != len(want) {
		t.Fatalf("%d columns, want %d", sc.NumColumns(), len(want))
	}
	for i, w := range want {
		c := sc.Column(i)
		if c.Name() != w.name {
			t.Errorf("column %d is %s, want %s", i, c.Name(), w.name)
		}
		if c.PhysicalType() != w.physical {
			t.Errorf("column %s physical type %s, want %s", w.name, c.PhysicalType(), w.physical)
		}
		if w.logical != nil && !c.LogicalType().Equals(w.logical) {
			t.Errorf("column %s logical type %s, want %s", w.name, c.LogicalType(), w.logical)
		}
		if w.logical == nil && c.LogicalType().IsValid() && c.LogicalType().IsApplicable(c.PhysicalType(), 0) && c.LogicalType().String() != "Int(bitWidth=64, isSigned=true)" && c.LogicalType().String() != "None" {
			t.Errorf("column %s has logical type %s, want a plain signed int64", w.name, c.LogicalType())
		}
		wantRep := parquet.Repetitions.Required
		if w.optional {
			wantRep = parquet.Repetitions.Optional
		}
		if rep := c.SchemaNode().RepetitionType(); rep != wantRep {
			t.Errorf("column %s repetition %s, want %s", w.name, rep, wantRep)
		}
	}
	for g := 0; g < pf.NumRowGroups(); g++ {
		for i := range want {
			cc, err := pf.MetaData().RowGroup(g).ColumnChunk(i)
			if err != nil {
				t.Fatal(err)
			}
			if cc.Compression() != compress.Codecs.Snappy {
				t.Errorf("row group %d column %s compressed with %s, want snappy", g, want[i].name, cc.Compression())
			}
		}
	}
	// What query engines see through Arrow: Timestamp(ms, "UTC"), utf8, int64.
	fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{}, memory.DefaultAllocator)
	if err != nil {
		t.Fatal(err)
	}
	as, err := fr.Schema()
	if err != nil {
		t.Fatal(err)
	}
	for i, w := range want {
		f := as.Field(i)
		var wantType arrow.DataType = arrow.BinaryTypes.String
		switch {
		case w.logical == nil:
			wantType = arrow.PrimitiveTypes.Int64
		case w.physical == parquet.Types.Int64:
			wantType = &arrow.TimestampType{Unit: arrow.Millisecond, TimeZone: "UTC"}
		}
		if !arrow.TypeEqual(f.Type, wantType) || f.Nullable != w.optional {
			t.Errorf("arrow field %s: %s nullable=%v, want %s nullable=%v", f.Name, f.Type, f.Nullable, wantType, w.optional)
		}
	}
}

func TestChangeSegment_ParquetSchemaIsExactlyTheDesign(t *testing.T) {
	c := change(1)
	c.UserIdentity = ptr("dynamodb.amazonaws.com")
	_, data := flushOne(t, c, change(2))
	checkParquetColumns(t, data, designChangeColumns)
}

func TestSnapshotPart_ParquetSchemaIsKeysAndItem(t *testing.T) {
	p := fillPart(t, t.TempDir(), snapshotItems(3))
	b := newMemBucket()
	if _, err := FlushPart(t.Context(), b, p, "t", "s", 0); err != nil {
		t.Fatal(err)
	}
	checkParquetColumns(t, b.get(t, "t/snapshots/s/part-00000.parquet"), designSnapshotColumns)
}

// writeParquet writes one row of zero values (or "x" strings) with any schema.
func writeParquet(t *testing.T, sc *arrow.Schema) []byte {
	t.Helper()
	rb := array.NewRecordBuilder(memory.DefaultAllocator, sc)
	defer rb.Release()
	for i := range sc.Fields() {
		switch b := rb.Field(i).(type) {
		case *array.StringBuilder:
			b.Append("x")
		case *array.BinaryBuilder:
			b.Append([]byte("x"))
		case *array.TimestampBuilder:
			b.Append(0)
		case *array.Int64Builder:
			b.Append(0)
		case *array.Int32Builder:
			b.Append(0)
		default:
			t.Fatalf("test helper cannot fill %T", b)
		}
	}
	rec := rb.NewRecordBatch()
	defer rec.Release()
	var buf bytes.Buffer
	fw, err := pqarrow.NewFileWriter(sc, &buf, nil, pqarrow.DefaultWriterProps())
	if err != nil {
		t.Fatal(err)
	}
	if err := fw.Write(rec); err != nil {
		t.Fatal(err)
	}
	if err := fw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func editSchema(sc *arrow.Schema, edit func([]arrow.Field) []arrow.Field) *arrow.Schema {
	return arrow.NewSchema(edit(append([]arrow.Field(nil), sc.Fields()...)), nil)
}

func TestReadChanges_RejectsOtherSchemasNamingTheDifference(t *testing.T) {
	tests := []struct {
		name string
		sc   *arrow.Schema
		say  string
	}{
		{"extra column", editSchema(changeSchema, func(f []arrow.Field) []arrow.Field {
			return append(f, arrow.Field{Name: "ttl", Type: arrow.PrimitiveTypes.Int64})
		}), "15 columns"},
		{"missing column", editSchema(changeSchema, func(f []arrow.Field) []arrow.Field { return f[:13] }), "13 columns"},
		{"renamed column", editSchema(changeSchema, func(f []arrow.Field) []arrow.Field { f[9].Name = "key"; return f }), `column 9 is "key", want "keys"`},
		{"swapped columns", editSchema(changeSchema, func(f []arrow.Field) []arrow.Field { f[0], f[1] = f[1], f[0]; return f }), `column 0 is "stream_arn"`},
		{"binary instead of string", editSchema(changeSchema, func(f []arrow.Field) []arrow.Field { f[9].Type = arrow.BinaryTypes.Binary; return f }), `column "keys" has type binary`},
		{"nullable keys", editSchema(changeSchema, func(f []arrow.Field) []arrow.Field { f[9].Nullable = true; return f }), `column "keys" nullable=true`},
		{"required image", editSchema(changeSchema, func(f []arrow.Field) []arrow.Field { f[10].Nullable = false; return f }), `column "new_image" nullable=false`},
		{"microsecond times", editSchema(changeSchema, func(f []arrow.Field) []arrow.Field {
			f[7].Type = &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}
			return f
		}), `column "approximate_creation_time" has type timestamp[us`},
		{"local times", editSchema(changeSchema, func(f []arrow.Field) []arrow.Field {
			f[8].Type = &arrow.TimestampType{Unit: arrow.Millisecond}
			return f
		}), `column "captured_at" has type timestamp[ms]`},
		{"int32 size", editSchema(changeSchema, func(f []arrow.Field) []arrow.Field { f[12].Type = arrow.PrimitiveTypes.Int32; return f }), `column "size_bytes" has type int32`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ReadChanges(writeParquet(t, tt.sc))
			if !errors.Is(err, ErrUnknownSchema) || !strings.Contains(err.Error(), tt.say) {
				t.Fatalf("got %v, want ErrUnknownSchema saying %q", err, tt.say)
			}
		})
	}
}

func TestReadChanges_AcceptsSameSchemaWrittenByOtherParquetWriter(t *testing.T) {
	// Default pqarrow properties (dictionary everywhere, no compression): same columns,
	// so the file is readable, as one rewritten by another tool would be.
	out, err := ReadChanges(writeParquet(t, changeSchema))
	if err != nil || len(out) != 1 || out[0].Keys != "x" {
		t.Fatalf("got %+v, %v", out, err)
	}
}

func TestReadChanges_TruncatedFileIsCorrupt(t *testing.T) {
	changes := make([]Change, 300)
	for i := range changes {
		changes[i] = change(i + 1)
	}
	_, data := flushOne(t, changes...)
	for _, n := range []int{0, 1, 4, 8, 100, len(data) / 2, len(data) - 9, len(data) - 8, len(data) - 4, len(data) - 1} {
		out, err := ReadChanges(data[:n])
		if !errors.Is(err, ErrCorrupt) {
			t.Fatalf("truncated to %d of %d bytes: got %d changes, error %v; want ErrCorrupt", n, len(data), len(out), err)
		}
	}
	if _, err := ReadChanges([]byte("PAR1 this is not parquet PAR1")); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("garbage: %v", err)
	}
}

func TestReadChanges_DamagedBytesNeverPanic(t *testing.T) {
	changes := make([]Change, 200)
	for i := range changes {
		changes[i] = change(i + 1)
	}
	_, data := flushOne(t, changes...)
	rng := rand.New(rand.NewPCG(1, 2))
	failures := 0
	for range 400 {
		d := bytes.Clone(data)
		for range 1 + rng.IntN(4) {
			d[rng.IntN(len(d))] = byte(rng.IntN(256))
		}
		out, err := ReadChanges(d) // a panic fails the test
		if err != nil {
			failures++
			if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrUnknownSchema) {
				t.Fatalf("damaged file: error %v wraps neither ErrCorrupt nor ErrUnknownSchema", err)
			}
		} else if len(out) != len(changes) {
			t.Fatalf("damaged file read without error but with %d of %d rows", len(out), len(changes))
		}
	}
	if failures == 0 {
		t.Fatal("no damaged file was detected: the test does not damage anything")
	}
}
