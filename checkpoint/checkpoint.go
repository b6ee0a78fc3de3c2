// Package checkpoint records how far each shard of a table's stream has been durably
// stored, which shards were read to their end, and which stretches were lost (gaps).
//
// The pipeline rule it serves: a checkpoint never moves past a record that is not durably
// stored. Backends are subpackages: checkpoint/file (one JSON document per table in a
// storage.Bucket, so a directory or S3) and, later, checkpoint/dynamodb.
package checkpoint

import (
	"context"
	"errors"
	"time"
)

// ErrCorrupt is returned (wrapped) by Load when the stored state cannot be parsed. The
// caller must refuse to run and must not overwrite it.
var ErrCorrupt = errors.New("checkpoint is corrupt")

// ErrBackwards is returned (wrapped) by Save when the position would move a shard's
// checkpoint backwards or un-finish a finished shard: another writer got further, and a
// stale writer must never undo its progress.
var ErrBackwards = errors.New("checkpoint would move backwards: another capture of this table got further; stop this one and run a single capture per table")

// Position is how far one shard has been durably stored.
type Position struct {
	StreamARN     string `json:"stream_arn"`
	ShardID       string `json:"shard_id"`
	ParentShardID string `json:"parent_shard_id,omitempty"`
	// CoveredFrom: records of this shard stamped before it may be missing. Set when the
	// shard is first read without a checkpoint: the start time minus the stream's 24-hour
	// retention when read from TRIM_HORIZON, the start time itself when read from LATEST.
	// A child shard started after its parent finished inherits the parent's.
	CoveredFrom time.Time `json:"covered_from,omitempty"`
	// SequenceNumber is the last record stored durably; empty when none yet.
	SequenceNumber string `json:"sequence_number,omitempty"`
	// LastRecordTime is the ApproximateCreationDateTime of that record.
	LastRecordTime time.Time `json:"last_record_time,omitempty"`
	// CoveredUntil: every record of this shard stamped at or before it is stored. It
	// advances on an empty poll once everything read before it is durable, and to just
	// before the stamp of the last stored record (stamps never go down within a shard).
	CoveredUntil time.Time `json:"covered_until,omitempty"`
	// Finished is true once the shard was read to its end (it is closed) and stored.
	Finished  bool      `json:"finished,omitempty"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Gap is a stretch of a shard that was lost before it was read (trimmed by the 24-hour
// retention, or otherwise unreadable). A restore across it must fail.
type Gap struct {
	StreamARN string `json:"stream_arn"`
	ShardID   string `json:"shard_id"`
	// AfterSequence is the last record stored before the gap (empty: nothing was stored).
	AfterSequence string `json:"after_sequence,omitempty"`
	// From is the latest time known covered before the gap (zero: unknown, the shard's start).
	From time.Time `json:"from,omitempty"`
	// DetectedAt is when the reader found the gap; records after it are readable again.
	DetectedAt time.Time `json:"detected_at"`
	Reason     string    `json:"reason"`
}

// AllShards as a Gap's ShardID means the gap spans the whole stream: the table's stream
// was replaced (disabled and enabled again), so nothing is known between the old stream's
// last covered moment and the new stream's start.
const AllShards = "*"

// Table is everything recorded for one table.
type Table struct {
	Table  string              `json:"table"`
	Shards map[string]Position `json:"shards"` // by shard id
	Gaps   []Gap               `json:"gaps,omitempty"`
}

// Store loads and saves shard positions.
type Store interface {
	// Load returns the state recorded for table; an empty Table (Shards non-nil) and no
	// error when nothing was recorded yet; an error wrapping ErrCorrupt when unreadable.
	Load(ctx context.Context, table string) (Table, error)
	// Save records pos for its shard, replacing the previous position of that shard.
	Save(ctx context.Context, table string, pos Position) error
	// AddGap records a gap.
	AddGap(ctx context.Context, table string, gap Gap) error
}
