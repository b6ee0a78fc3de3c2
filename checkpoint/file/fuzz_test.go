package file

import (
	"bytes"
	"testing"
)

// FuzzParseDocument checks that any bytes give a Table or an error, never a panic, and
// that what parses re-encodes to a document that parses to the same encoding.
func FuzzParseDocument(f *testing.F) {
	f.Add([]byte(`{"format_version":1,"table":"orders","shards":{}}`))
	f.Add([]byte(`{"format_version":1,"table":"orders","shards":{"s":{"stream_arn":"arn","shard_id":"s","sequence_number":"0012","covered_until":"2026-11-21T10:42:17+01:00","finished":true,"updated_at":"2026-11-21T10:42:17.5Z"}},"gaps":[{"shard_id":"s","after_sequence":"12","detected_at":"2026-11-21T11:00:00Z","reason":"trimmed"}]}`))
	f.Add([]byte(`{"format_version":2,"table":"orders"}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, data []byte) {
		tbl, err := parseDocument(data, "orders")
		if err != nil {
			return
		}
		if tbl.Shards == nil || tbl.Table != "orders" {
			t.Fatalf("parsed %+v: want table orders with a Shards map", tbl)
		}
		enc, err := encodeDocument(tbl)
		if err != nil {
			t.Fatalf("encode parsed document: %v", err)
		}
		again, err := parseDocument(enc, "orders")
		if err != nil {
			t.Fatalf("re-encoded document does not parse: %v\n%s", err, enc)
		}
		enc2, err := encodeDocument(again)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(enc, enc2) {
			t.Fatalf("encoding is not stable:\n%s\n%s", enc, enc2)
		}
	})
}
