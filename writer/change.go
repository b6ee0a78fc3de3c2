// Package writer encodes what ddbtape stores: change segments (one Parquet row per stream
// record), snapshot parts and snapshot manifests, with the names and partitioning of the
// storage layout, and decodes them again for restores.
//
// Decisions worth knowing:
//
//   - Segments and parts are written through pqarrow a row group at a time (8,192 rows or
//     8 MiB of strings, whichever first) into a spool file, so a writer's memory does not
//     grow with its roll policy; the file is uploaded whole with Bucket.Create.
//   - Snappy compression everywhere, no dictionary encoding (see changeWriterProps for the
//     measurement); statistics only for sequence_key and the two timestamps, which
//     restores and analysts filter on.
//   - Flush treats an object already under the segment's key as durable: a segment's
//     key is its shard and sequence range, and the same range of a shard always holds the
//     same records. Snapshot parts are checked by SHA-256 instead, since their numbering
//     says nothing about their content.
//   - Readers check the schema exactly (names, order, types, nullability) and refuse
//     anything else with ErrUnknownSchema; damaged files give ErrCorrupt. Parquet has no
//     checksum of its own here, so parts are verified against the manifest's SHA-256
//     before reading (VerifyPart, DownloadPart).
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
