// Package writer encodes what ddbtape stores: change segments (one Parquet row per stream
// record), snapshot parts and snapshot manifests, with the names and partitioning of the
// storage layout, and decodes them again for restores.
package writer

import "time"

// Change is one stream record as stored in a change segment, one field per column of the
// segment schema. Images and keys are DynamoDB JSON (see package ddbjson).
type Change struct {
	TableName               string
	StreamARN               string
	ShardID                 string
	SequenceNumber          string
	EventID                 string
	EventName               string // INSERT, MODIFY or REMOVE
	ApproximateCreationTime time.Time
	CapturedAt              time.Time
	Keys                    string
	NewImage                *string // nil when the record has none
	OldImage                *string
	SizeBytes               int64
	UserIdentity            *string // principal; "dynamodb.amazonaws.com" for TTL deletes
}
