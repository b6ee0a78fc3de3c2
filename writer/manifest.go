package writer

import "time"

// ManifestName is the file that completes a snapshot: a snapshot directory without it is
// incomplete and never used by a restore. It is written last, atomically.
const ManifestName = "manifest.json"

// Manifest describes a complete snapshot. Key schema and the other table attributes are
// kept in the SDK's shapes (JSON of the DynamoDB API) so a restore can recreate the table.
type Manifest struct {
	FormatVersion int       `json:"format_version"`
	SnapshotID    string    `json:"snapshot_id"`
	TableName     string    `json:"table_name"`
	TableARN      string    `json:"table_arn"`
	StartedAt     time.Time `json:"started_at"`
	FinishedAt    time.Time `json:"finished_at"`
	ItemCount     int64     `json:"item_count"`
	// Method is "scan" for a snapshot read from the table, "compaction" for one built from
	// an earlier snapshot and change segments.
	Method string `json:"method"`
	// CompactedFrom says what a compaction was built from; absent on a scan and in
	// manifests written before the field existed (it is informational: a restore needs
	// only the times above).
	CompactedFrom *CompactionSource `json:"compacted_from,omitempty"`

	KeySchema              []KeyElement          `json:"key_schema"`
	AttributeDefinitions   []AttributeDefinition `json:"attribute_definitions"`
	GlobalSecondaryIndexes []SecondaryIndex      `json:"global_secondary_indexes,omitempty"`
	LocalSecondaryIndexes  []SecondaryIndex      `json:"local_secondary_indexes,omitempty"`
	BillingMode            string                `json:"billing_mode"` // PROVISIONED or PAY_PER_REQUEST
	ReadCapacityUnits      int64                 `json:"read_capacity_units,omitempty"`
	WriteCapacityUnits     int64                 `json:"write_capacity_units,omitempty"`
	StreamARN              string                `json:"stream_arn,omitempty"`
	StreamViewType         string                `json:"stream_view_type,omitempty"`
	// SSEType and SSEKMSKeyARN are the table's encryption at rest when it is not the
	// default (an AWS owned key): KMS with the key's ARN. Absent in manifests written
	// before they existed, and for the default.
	SSEType      string `json:"sse_type,omitempty"`
	SSEKMSKeyARN string `json:"sse_kms_key_arn,omitempty"`
	// Region is the region of the table the snapshot read (from its ARN): a backup holds
	// one region's stream, and its snapshots must be of the same region. For a global
	// table, GlobalTableVersion and Replicas (regions, this one included) describe it.
	// Absent in manifests written before they existed.
	Region             string   `json:"region,omitempty"`
	GlobalTableVersion string   `json:"global_table_version,omitempty"`
	Replicas           []string `json:"replicas,omitempty"`

	Parts []ManifestPart `json:"parts"`
}

// CompactionSource is what a compaction snapshot was built from: the base snapshot and
// every change stamped at or before ChangesUntil (the compaction's started_at and
// finished_at, the moment whose state it holds).
type CompactionSource struct {
	SnapshotID   string    `json:"snapshot_id"`
	ChangesUntil time.Time `json:"changes_until"`
}

// KeyElement is one attribute of a key schema.
type KeyElement struct {
	AttributeName string `json:"attribute_name"`
	KeyType       string `json:"key_type"` // HASH or RANGE
}

// AttributeDefinition is the type of a key attribute.
type AttributeDefinition struct {
	AttributeName string `json:"attribute_name"`
	AttributeType string `json:"attribute_type"` // S, N or B
}

// SecondaryIndex is a GSI or LSI.
type SecondaryIndex struct {
	IndexName          string       `json:"index_name"`
	KeySchema          []KeyElement `json:"key_schema"`
	ProjectionType     string       `json:"projection_type"` // ALL, KEYS_ONLY or INCLUDE
	NonKeyAttributes   []string     `json:"non_key_attributes,omitempty"`
	ReadCapacityUnits  int64        `json:"read_capacity_units,omitempty"`
	WriteCapacityUnits int64        `json:"write_capacity_units,omitempty"`
}

// ManifestPart is one Parquet part of a snapshot.
type ManifestPart struct {
	Name   string `json:"name"` // part-NNNNN.parquet, relative to the snapshot directory
	Rows   int64  `json:"rows"`
	Bytes  int64  `json:"bytes"`
	SHA256 string `json:"sha256"` // hex
}

// SnapshotItem is one row of a snapshot part: the item's key and whole item, DynamoDB JSON.
type SnapshotItem struct {
	Keys string
	Item string
}
