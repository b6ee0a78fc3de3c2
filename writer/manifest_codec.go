package writer

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// ManifestFormatVersion is the manifest format this version of ddbtape writes and reads.
const ManifestFormatVersion = 1

// ErrInvalidManifest is wrapped by DecodeManifest and EncodeManifest for a manifest that
// breaks a rule; the message names the field. A snapshot with an invalid manifest is not
// used by restores: take a new snapshot.
var ErrInvalidManifest = errors.New("invalid snapshot manifest")

// ManifestKey is the object key of a snapshot's manifest.
func ManifestKey(table, id string) string { return SnapshotDir(table, id) + ManifestName }

// EncodeManifest validates m and returns it as indented JSON (people read manifests).
func EncodeManifest(m Manifest) ([]byte, error) {
	if err := validateManifest(m); err != nil {
		return nil, err
	}
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode manifest: %w", err)
	}
	return append(data, '\n'), nil
}

// DecodeManifest parses and validates a manifest. Unknown fields are ignored (the format
// version, not the field set, says what a reader must understand); an unknown version is
// refused before anything else is looked at.
func DecodeManifest(data []byte) (Manifest, error) {
	var v struct {
		FormatVersion *int `json:"format_version"`
	}
	if err := json.Unmarshal(data, &v); err != nil {
		return Manifest{}, fmt.Errorf("%w: not a JSON object: %v", ErrInvalidManifest, err)
	}
	switch {
	case v.FormatVersion == nil:
		return Manifest{}, fmt.Errorf("%w: format_version missing", ErrInvalidManifest)
	case *v.FormatVersion != ManifestFormatVersion:
		return Manifest{}, fmt.Errorf("%w: format_version %d unknown (this ddbtape reads %d; upgrade ddbtape)",
			ErrInvalidManifest, *v.FormatVersion, ManifestFormatVersion)
	}
	var m Manifest
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&m); err != nil {
		return Manifest{}, fmt.Errorf("%w: %v", ErrInvalidManifest, err)
	}
	if dec.More() {
		return Manifest{}, fmt.Errorf("%w: data after the manifest object", ErrInvalidManifest)
	}
	if err := validateManifest(m); err != nil {
		return Manifest{}, err
	}
	return m, nil
}

func invalid(field, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrInvalidManifest, field, fmt.Sprintf(format, args...))
}

func validateManifest(m Manifest) error {
	switch {
	case m.FormatVersion != ManifestFormatVersion:
		return invalid("format_version", "%d unknown (want %d)", m.FormatVersion, ManifestFormatVersion)
	case !pathComponent(m.SnapshotID):
		return invalid("snapshot_id", "%q must be a non-empty name without '/'", m.SnapshotID)
	case !pathComponent(m.TableName):
		return invalid("table_name", "%q must be a non-empty name without '/'", m.TableName)
	case m.StartedAt.IsZero():
		return invalid("started_at", "missing")
	case m.FinishedAt.IsZero():
		return invalid("finished_at", "missing")
	case m.FinishedAt.Before(m.StartedAt):
		return invalid("finished_at", "%s is before started_at %s", m.FinishedAt, m.StartedAt)
	case m.ItemCount < 0:
		return invalid("item_count", "%d is negative", m.ItemCount)
	case m.Method != "scan" && m.Method != "compaction":
		return invalid("method", "%q, want scan or compaction", m.Method)
	}
	if c := m.CompactedFrom; c != nil {
		switch {
		case m.Method != "compaction":
			return invalid("compacted_from", "set on a %s snapshot, want method compaction", m.Method)
		case !pathComponent(c.SnapshotID) || c.SnapshotID == m.SnapshotID:
			return invalid("compacted_from.snapshot_id", "%q must name another snapshot", c.SnapshotID)
		case c.ChangesUntil.IsZero():
			return invalid("compacted_from.changes_until", "missing")
		}
	}
	if err := validateKeySchema("key_schema", m.KeySchema); err != nil {
		return err
	}
	defined := map[string]bool{}
	for i, d := range m.AttributeDefinitions {
		f := fmt.Sprintf("attribute_definitions[%d]", i)
		switch {
		case d.AttributeName == "":
			return invalid(f+".attribute_name", "empty")
		case d.AttributeType != "S" && d.AttributeType != "N" && d.AttributeType != "B":
			return invalid(f+".attribute_type", "%q, want S, N or B", d.AttributeType)
		}
		defined[d.AttributeName] = true
	}
	for i, k := range m.KeySchema {
		if !defined[k.AttributeName] {
			return invalid(fmt.Sprintf("key_schema[%d]", i), "attribute %q has no attribute definition", k.AttributeName)
		}
	}
	for _, idx := range []struct {
		field string
		list  []SecondaryIndex
	}{{"global_secondary_indexes", m.GlobalSecondaryIndexes}, {"local_secondary_indexes", m.LocalSecondaryIndexes}} {
		for i, x := range idx.list {
			f := fmt.Sprintf("%s[%d]", idx.field, i)
			if x.IndexName == "" {
				return invalid(f+".index_name", "empty")
			}
			if err := validateKeySchema(f+".key_schema", x.KeySchema); err != nil {
				return err
			}
			switch x.ProjectionType {
			case "ALL", "KEYS_ONLY", "INCLUDE":
			default:
				return invalid(f+".projection_type", "%q, want ALL, KEYS_ONLY or INCLUDE", x.ProjectionType)
			}
		}
	}
	switch m.BillingMode {
	case "", "PROVISIONED", "PAY_PER_REQUEST":
	default:
		return invalid("billing_mode", "%q, want PROVISIONED or PAY_PER_REQUEST", m.BillingMode)
	}
	switch m.StreamViewType {
	case "", "NEW_IMAGE", "OLD_IMAGE", "NEW_AND_OLD_IMAGES", "KEYS_ONLY":
	default:
		return invalid("stream_view_type", "%q unknown", m.StreamViewType)
	}
	if m.ReadCapacityUnits < 0 || m.WriteCapacityUnits < 0 {
		return invalid("read_capacity_units/write_capacity_units", "negative")
	}
	return validateParts(m)
}

func validateKeySchema(field string, ks []KeyElement) error {
	if len(ks) == 0 || len(ks) > 2 {
		return invalid(field, "%d elements, want a HASH key and an optional RANGE key", len(ks))
	}
	for i, k := range ks {
		want := "HASH"
		if i == 1 {
			want = "RANGE"
		}
		if k.AttributeName == "" {
			return invalid(fmt.Sprintf("%s[%d].attribute_name", field, i), "empty")
		}
		if k.KeyType != want {
			return invalid(fmt.Sprintf("%s[%d].key_type", field, i), "%q, want %s", k.KeyType, want)
		}
	}
	return nil
}

func validateParts(m Manifest) error {
	seen := map[string]bool{}
	var rows int64
	for i, p := range m.Parts {
		f := fmt.Sprintf("parts[%d]", i)
		switch {
		case !isPartName(p.Name):
			return invalid(f+".name", "%q, want part-NNNNN.parquet", p.Name)
		case seen[p.Name]:
			return invalid(f+".name", "%q listed twice", p.Name)
		case p.Rows < 0:
			return invalid(f+".rows", "%d is negative", p.Rows)
		case p.Bytes < 0:
			return invalid(f+".bytes", "%d is negative", p.Bytes)
		case !isSHA256Hex(p.SHA256):
			return invalid(f+".sha256", "%q is not 64 lowercase hex characters", p.SHA256)
		}
		seen[p.Name] = true
		rows += p.Rows
	}
	if rows != m.ItemCount {
		return invalid("item_count", "%d, but the parts hold %d rows", m.ItemCount, rows)
	}
	return nil
}

func pathComponent(s string) bool {
	return s != "" && s != "." && s != ".." && !strings.ContainsAny(s, "/\\")
}

// isPartName accepts part-NNNNN.parquet with five or more digits (PartName's output).
func isPartName(s string) bool {
	digits, ok := strings.CutPrefix(s, "part-")
	if !ok {
		return false
	}
	digits, ok = strings.CutSuffix(digits, ".parquet")
	return ok && len(digits) >= 5 && isDigits(digits)
}

func isSHA256Hex(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, c := range []byte(s) {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}
