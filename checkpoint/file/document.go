package file

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/ddbtape/ddbtape/checkpoint"
	"github.com/ddbtape/ddbtape/shards"
)

// formatVersion is the version of the document this code reads and writes. A document of
// another version is refused rather than guessed at: a newer ddbtape may record things an
// older one would silently drop on its next save.
const formatVersion = 1

// document is the stored form of one table's checkpoint.
type document struct {
	FormatVersion int                            `json:"format_version"`
	Table         string                         `json:"table"`
	Shards        map[string]checkpoint.Position `json:"shards"`
	Gaps          []checkpoint.Gap               `json:"gaps,omitempty"`
}

func encodeDocument(t checkpoint.Table) ([]byte, error) {
	doc := document{FormatVersion: formatVersion, Table: t.Table, Shards: t.Shards, Gaps: t.Gaps}
	if doc.Shards == nil {
		doc.Shards = map[string]checkpoint.Position{}
	}
	data, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(data, '\n'), nil
}

// parseDocument reads a stored document for table. Its errors say what is wrong with the
// document; the caller wraps them as corrupt.
func parseDocument(data []byte, table string) (checkpoint.Table, error) {
	var doc document
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		return checkpoint.Table{}, fmt.Errorf("not a JSON checkpoint document: %w", err)
	}
	if dec.More() {
		return checkpoint.Table{}, fmt.Errorf("trailing data after the JSON document")
	}
	if doc.FormatVersion != formatVersion {
		return checkpoint.Table{}, fmt.Errorf("format_version %d is not one this ddbtape reads (it reads %d)", doc.FormatVersion, formatVersion)
	}
	if doc.Table != table {
		return checkpoint.Table{}, fmt.Errorf("it belongs to table %q, not %q", doc.Table, table)
	}
	if doc.Shards == nil {
		doc.Shards = map[string]checkpoint.Position{}
	}
	for id, pos := range doc.Shards {
		if pos.ShardID != id {
			return checkpoint.Table{}, fmt.Errorf("shard entry %q holds the position of shard %q", id, pos.ShardID)
		}
		if !validSequence(pos.SequenceNumber) {
			return checkpoint.Table{}, fmt.Errorf("shard %q has sequence number %q, which is not a decimal number", id, pos.SequenceNumber)
		}
	}
	for i, g := range doc.Gaps {
		if g.ShardID == "" {
			return checkpoint.Table{}, fmt.Errorf("gap %d names no shard", i)
		}
		if !validSequence(g.AfterSequence) {
			return checkpoint.Table{}, fmt.Errorf("gap %d has sequence number %q, which is not a decimal number", i, g.AfterSequence)
		}
	}
	return checkpoint.Table{Table: doc.Table, Shards: doc.Shards, Gaps: doc.Gaps}, nil
}

// validSequence accepts the empty sequence number (nothing stored yet) and decimal digits,
// the only form DynamoDB Streams gives; anything else cannot be ordered.
func validSequence(s string) bool { return s == "" || shards.SequenceNumber(s).Valid() }
