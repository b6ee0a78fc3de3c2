package writer

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

func validManifest() Manifest {
	start := time.Date(2024, 5, 17, 10, 0, 0, 0, time.UTC)
	return Manifest{
		FormatVersion: ManifestFormatVersion,
		SnapshotID:    "20240517T100000Z",
		TableName:     "orders",
		TableARN:      "arn:aws:dynamodb:eu-west-1:123456789012:table/orders",
		StartedAt:     start,
		FinishedAt:    start.Add(3 * time.Minute),
		ItemCount:     7,
		Method:        "scan",
		KeySchema:     []KeyElement{{AttributeName: "pk", KeyType: "HASH"}, {AttributeName: "sk", KeyType: "RANGE"}},
		AttributeDefinitions: []AttributeDefinition{
			{AttributeName: "pk", AttributeType: "S"}, {AttributeName: "sk", AttributeType: "N"}, {AttributeName: "g", AttributeType: "B"},
		},
		GlobalSecondaryIndexes: []SecondaryIndex{{IndexName: "by-g", KeySchema: []KeyElement{{AttributeName: "g", KeyType: "HASH"}}, ProjectionType: "INCLUDE", NonKeyAttributes: []string{"x"}}},
		LocalSecondaryIndexes:  []SecondaryIndex{{IndexName: "by-g-local", KeySchema: []KeyElement{{AttributeName: "pk", KeyType: "HASH"}, {AttributeName: "g", KeyType: "RANGE"}}, ProjectionType: "KEYS_ONLY"}},
		BillingMode:            "PAY_PER_REQUEST",
		StreamARN:              "arn:aws:dynamodb:eu-west-1:123456789012:table/orders/stream/2024-05-17T00:00:00.000",
		StreamViewType:         "NEW_AND_OLD_IMAGES",
		Parts: []ManifestPart{
			{Name: "part-00000.parquet", Rows: 5, Bytes: 1234, SHA256: strings.Repeat("ab", 32)},
			{Name: "part-00001.parquet", Rows: 2, Bytes: 99, SHA256: strings.Repeat("0f", 32)},
		},
	}
}

func TestManifest_EncodeDecodeRoundTrip(t *testing.T) {
	m := validManifest()
	data, err := EncodeManifest(m)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(data, []byte("\n  \"snapshot_id\": \"20240517T100000Z\",\n")) {
		t.Fatalf("not indented JSON:\n%s", data)
	}
	got, err := DecodeManifest(data)
	if err != nil {
		t.Fatal(err)
	}
	again, err := EncodeManifest(got)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again, data) {
		t.Fatalf("round trip changed the manifest:\n%s\n%s", data, again)
	}
	if !got.StartedAt.Equal(m.StartedAt) || got.Parts[1] != m.Parts[1] {
		t.Fatalf("decoded %+v", got)
	}
}

func TestManifest_EmptySnapshotIsValid(t *testing.T) {
	m := validManifest()
	m.Parts, m.ItemCount = nil, 0
	m.GlobalSecondaryIndexes, m.LocalSecondaryIndexes = nil, nil
	m.KeySchema = m.KeySchema[:1]
	data, err := EncodeManifest(m)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := DecodeManifest(data); err != nil {
		t.Fatal(err)
	}
}

func TestManifest_ValidationNamesTheField(t *testing.T) {
	tests := []struct {
		field string
		edit  func(*Manifest)
	}{
		{"format_version", func(m *Manifest) { m.FormatVersion = 2 }},
		{"snapshot_id", func(m *Manifest) { m.SnapshotID = "" }},
		{"snapshot_id", func(m *Manifest) { m.SnapshotID = "a/b" }},
		{"snapshot_id", func(m *Manifest) { m.SnapshotID = ".." }},
		{"table_name", func(m *Manifest) { m.TableName = "" }},
		{"started_at", func(m *Manifest) { m.StartedAt = time.Time{} }},
		{"finished_at", func(m *Manifest) { m.FinishedAt = time.Time{} }},
		{"finished_at", func(m *Manifest) { m.FinishedAt = m.StartedAt.Add(-time.Second) }},
		{"item_count", func(m *Manifest) { m.ItemCount = -1 }},
		{"item_count", func(m *Manifest) { m.ItemCount = 8 }},
		{"method", func(m *Manifest) { m.Method = "" }},
		{"key_schema", func(m *Manifest) { m.KeySchema = nil }},
		{"key_schema[0].key_type", func(m *Manifest) { m.KeySchema[0].KeyType = "RANGE" }},
		{"key_schema[1].key_type", func(m *Manifest) { m.KeySchema[1].KeyType = "HASH" }},
		{"key_schema[0].attribute_name", func(m *Manifest) { m.KeySchema[0].AttributeName = "" }},
		{"key_schema[1]", func(m *Manifest) { m.AttributeDefinitions = m.AttributeDefinitions[:1] }},
		{"attribute_definitions[2].attribute_type", func(m *Manifest) { m.AttributeDefinitions[2].AttributeType = "SS" }},
		{"attribute_definitions[0].attribute_name", func(m *Manifest) { m.AttributeDefinitions[0].AttributeName = "" }},
		{"global_secondary_indexes[0].index_name", func(m *Manifest) { m.GlobalSecondaryIndexes[0].IndexName = "" }},
		{"global_secondary_indexes[0].projection_type", func(m *Manifest) { m.GlobalSecondaryIndexes[0].ProjectionType = "SOME" }},
		{"local_secondary_indexes[0].key_schema[1].key_type", func(m *Manifest) { m.LocalSecondaryIndexes[0].KeySchema[1].KeyType = "" }},
		{"billing_mode", func(m *Manifest) { m.BillingMode = "ON_DEMAND" }},
		{"stream_view_type", func(m *Manifest) { m.StreamViewType = "ALL" }},
		{"read_capacity_units", func(m *Manifest) { m.ReadCapacityUnits = -5 }},
		{"parts[1].name", func(m *Manifest) { m.Parts[1].Name = "../part-00001.parquet" }},
		{"parts[1].name", func(m *Manifest) { m.Parts[1].Name = "sub/part-00001.parquet" }},
		{"parts[1].name", func(m *Manifest) { m.Parts[1].Name = "part-1.parquet" }},
		{"parts[1].name", func(m *Manifest) { m.Parts[1].Name = "part-00000.parquet" }},
		{"parts[0].rows", func(m *Manifest) { m.Parts[0].Rows = -1 }},
		{"parts[0].bytes", func(m *Manifest) { m.Parts[0].Bytes = -1 }},
		{"parts[0].sha256", func(m *Manifest) { m.Parts[0].SHA256 = "abc" }},
		{"parts[0].sha256", func(m *Manifest) { m.Parts[0].SHA256 = strings.Repeat("AB", 32) }},
		{"parts[0].sha256", func(m *Manifest) { m.Parts[0].SHA256 = strings.Repeat("zz", 32) }},
	}
	for _, tt := range tests {
		t.Run(tt.field, func(t *testing.T) {
			m := validManifest()
			tt.edit(&m)
			_, err := EncodeManifest(m)
			if !errors.Is(err, ErrInvalidManifest) || !strings.Contains(err.Error(), tt.field) {
				t.Fatalf("EncodeManifest: %v, want ErrInvalidManifest naming %s", err, tt.field)
			}
			// The same manifest written by something else is refused on read too.
			m.FormatVersion = ManifestFormatVersion
			if tt.field == "format_version" {
				return
			}
			data := mustMarshal(t, m)
			if _, err := DecodeManifest(data); !errors.Is(err, ErrInvalidManifest) || !strings.Contains(err.Error(), tt.field) {
				t.Fatalf("DecodeManifest: %v, want ErrInvalidManifest naming %s", err, tt.field)
			}
		})
	}
}

func TestDecodeManifest_RejectsWhatIsNotAManifest(t *testing.T) {
	tests := map[string]struct{ in, say string }{
		"not JSON":         {`manifest`, "not a JSON object"},
		"array":            {`[]`, "not a JSON object"},
		"empty":            {``, "not a JSON object"},
		"no version":       {`{"snapshot_id":"x"}`, "format_version missing"},
		"future version":   {`{"format_version":2}`, "format_version 2 unknown"},
		"wrong field type": {`{"format_version":1,"item_count":"7"}`, "item_count"},
		"bad time":         {`{"format_version":1,"started_at":"yesterday"}`, "yesterday"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := DecodeManifest([]byte(tt.in))
			if !errors.Is(err, ErrInvalidManifest) || !strings.Contains(err.Error(), tt.say) {
				t.Fatalf("got %v, want ErrInvalidManifest saying %q", err, tt.say)
			}
		})
	}
}

func TestDecodeManifest_IgnoresUnknownFields(t *testing.T) {
	data := mustMarshal(t, validManifest())
	data = bytes.Replace(data, []byte(`{`), []byte(`{"future_field":{"x":1},`), 1)
	if _, err := DecodeManifest(data); err != nil {
		t.Fatal(err)
	}
}

func TestManifestKey(t *testing.T) {
	if got := ManifestKey("orders", "s1"); got != "orders/snapshots/s1/manifest.json" {
		t.Fatal(got)
	}
}

// mustMarshal encodes without validation, as a buggy or foreign writer would.
func mustMarshal(t *testing.T, m Manifest) []byte {
	t.Helper()
	data, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return data
}
