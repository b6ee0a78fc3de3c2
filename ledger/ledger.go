// Package ledger is what capture records in the destination, beside the change segments,
// about the stream it reads: each stream, each shard as soon as it is listed, and coverage
// marks (which stamps of a shard are durably stored, which were lost). With it the
// destination alone proves what it can restore; the checkpoint store only says where to
// resume.
//
// # Objects
//
// The ledger of a table lives under <table>/ledger/ as small immutable JSON objects, each
// created only if absent, so nothing is ever overwritten:
//
//	<table>/ledger/log/<time>-<writer>-<n>.json     an Entry: facts one writer added
//	<table>/ledger/state/<time>-<writer>.json       an Entry: a consolidation of what it read
//
// A reader lists both folders and combines every object it finds. Consolidation writes one
// state object holding the combination of everything it listed, then deletes what it
// listed; a reader that meets an object deleted under it lists again. Since combining is
// order-independent and idempotent (below), a reader that ignores the states, or reads an
// object twice, gets the same answer, only slower.
//
// # Facts and how they combine
//
//   - Stream: by ARN. Created and Label agree; FirstSeen is the earliest; ListedAt the
//     latest (see Stream.ListedAt).
//   - Shard: by stream and id. ParentID is any that is set; FirstSeen the earliest;
//     BornAfter the latest (each is a lower bound of the shard's stamps, so the latest is
//     the tightest); Start and StartedAt are those of the earliest start.
//   - Mark: by stream and shard, a claim "every record of this shard stamped in
//     [From, Until] is stored" (with Finished: every record stamped at or after From).
//     Claims combine as the union of their intervals; Until's maximum is the shard's
//     open coverage (OpenUntil), LastSequence and LastRecordTime their maxima, EndedBy its
//     minimum (each is an upper bound of the shard's stamps), Finished any that is set.
//   - Gap: a stretch of stamps whose records were lost; gaps combine as a set.
//   - Object: a stored backup file by key, with its size and SHA-256 (see Object). A
//     key's content never changes (it is created only if absent), so facts of one key
//     agree; should two ever differ (a bug), readers check against the one with the
//     smaller SHA-256 and State.ObjectConflicts lists every fact of the key, so the file
//     is refused or questioned rather than quietly trusted.
//
// Every fact is true when written and stays true, so any union of facts is true: a lost
// or late object can only make the ledger claim less, never something false.
//
// # Checksums of change segments
//
// A change segment's SHA-256 lives here, as an Object fact that capture adds once the
// segment is durable, beside the marks that claim its records: the catalog finds it with
// the coverage it reads anyway (catalog.Segment.SHA256), and every reader checks the file
// against it before decoding a row. A capture that finds its segment stored already (a
// retry, or another worker's identical range) records the stored file's own hash, read
// back. A segment stored by a capture killed before its next ledger write has none; the
// next capture records it when it starts, reading it back (segments of the last day
// without a fact are adopted so, which also covers a day of a backup older than these
// facts). A segment without one is decoded as before (Parquet notices most damage, not
// all), and verify --objects counts it apart.
// Snapshot parts have their SHA-256 in their manifest instead.
//
// Facts of deleted segments are dropped by consolidation (Consolidate's exists), so the
// ledger grows with what the backup holds, about 250 bytes per stored segment.
//
// # Consolidation and Object Lock
//
// Consolidation deletes what it replaced, so it runs where deleting is allowed: in the
// retention and compaction jobs, never in capture. Under S3 Object Lock ledger objects
// are sealed and locked like the segments they describe; consolidation then replaces
// only the objects whose retention has ended (oldest first, stopping at the first still
// held) and leaves the others, which is harmless: combining is idempotent, so a reader
// that reads a fact twice, in a state and in the object it came from, gets the same
// answer. A ledger under a lock therefore holds every object written during the lock
// period, and reads list them all.
package ledger

import (
	"errors"
	"strings"
	"time"
)

// Version is the format version of ledger objects; a reader refuses newer ones.
const Version = 1

// ErrCorrupt is returned (wrapped) when a ledger object cannot be read as an Entry. The
// object is named in the error; nothing may be concluded from a ledger that has one.
var ErrCorrupt = errors.New("ledger object is corrupt: restore it from a copy of the backup, or move it away and take a new snapshot")

// AllShards as a Gap's ShardID means the gap spans every shard of its stream.
const AllShards = "*"

// How a shard's reading began (Shard.Start).
const (
	StartTrimHorizon = "trim-horizon" // from the oldest record still in the stream
	StartLatest      = "latest"       // from the newest: older records were never read
	StartAfterParent = "after-parent" // from its first record, after its parent was read to its end
)

// Causes of a Gap.
const (
	CauseTrimmed    = "trimmed"    // TrimmedDataAccessException: records expired before they were read
	CauseVanished   = "vanished"   // the shard was gone before it was read to its end
	CauseContinuity = "continuity" // capture was down too close to the 24-hour retention to prove nothing expired
)

// Stream is one stream of the table.
type Stream struct {
	ARN string `json:"arn"`
	// Label is the part of the ARN after /stream/: the stream's creation time as text.
	Label    string `json:"label,omitempty"`
	ViewType string `json:"view_type,omitempty"`
	// Created is when DynamoDB created the stream (DescribeStream's
	// CreationRequestDateTime): no record of it is stamped before.
	Created   time.Time `json:"created,omitzero"`
	FirstSeen time.Time `json:"first_seen,omitzero"`
	// ListedAt is the DynamoDB time of the latest listing of the stream's shards whose
	// shards were all recorded before this fact was written: every shard that existed a
	// listing delay before it is in the ledger.
	ListedAt time.Time `json:"listed_at,omitzero"`
}

// Shard is one shard of a stream, recorded when it is first listed and again when its
// reading first begins.
type Shard struct {
	StreamARN string    `json:"stream_arn"`
	ID        string    `json:"id"`
	ParentID  string    `json:"parent_id,omitempty"`
	FirstSeen time.Time `json:"first_seen,omitzero"`
	// BornAfter: every record of the shard is stamped after it (the stream's creation, or
	// a listing that did not have the shard yet, less a margin).
	BornAfter time.Time `json:"born_after,omitzero"`
	// Start is how its reading began (StartTrimHorizon, StartLatest, StartAfterParent);
	// empty until it began.
	Start     string    `json:"start,omitempty"`
	StartedAt time.Time `json:"started_at,omitzero"`
}

// Mark claims that every record of a shard stamped in [From, Until] is durably stored,
// or, with Finished, every record stamped at or after From: the shard was read to its end.
// It is written only after the segments holding those records are durable.
type Mark struct {
	StreamARN string    `json:"stream_arn"`
	ShardID   string    `json:"shard_id"`
	From      time.Time `json:"from"`
	// Until is how far the shard was covered while it was open; with Finished it still
	// says so (the children of the shard are stamped after it).
	Until    time.Time `json:"until,omitzero"`
	Finished bool      `json:"finished,omitempty"`
	// EndedBy is when the shard was known to have ended, by DynamoDB's clock: its end was
	// read (with Finished), or it was gone from the stream (without: a gap records what was
	// lost). No record of the shard is stamped after it.
	EndedBy        time.Time `json:"ended_by,omitzero"`
	LastSequence   string    `json:"last_sequence,omitempty"`
	LastRecordTime time.Time `json:"last_record_time,omitzero"`
}

// Gap is a stretch of stamps (From, To] of a shard (or, with ShardID AllShards, of every
// shard of the stream) whose records were lost before they were stored. A zero From is the
// beginning of time.
type Gap struct {
	StreamARN  string    `json:"stream_arn"`
	ShardID    string    `json:"shard_id"`
	From       time.Time `json:"from,omitzero"`
	To         time.Time `json:"to"`
	Cause      string    `json:"cause"`
	Reason     string    `json:"reason"`
	DetectedAt time.Time `json:"detected_at,omitzero"`
	// AfterSequence is the last record stored before the gap, when one was.
	AfterSequence string `json:"after_sequence,omitempty"`
}

// Object is a stored backup file: its key (relative to the destination, as a listing of
// it gives it), its size and its SHA-256 (lowercase hex). It is written only after the
// file is durable.
type Object struct {
	Key    string `json:"key"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// Entry is the content of one ledger object.
type Entry struct {
	Version   int       `json:"version"`
	Table     string    `json:"table"`
	Writer    string    `json:"writer,omitempty"`
	WrittenAt time.Time `json:"written_at,omitzero"`
	Streams   []Stream  `json:"streams,omitempty"`
	Shards    []Shard   `json:"shards,omitempty"`
	Marks     []Mark    `json:"marks,omitempty"`
	Gaps      []Gap     `json:"gaps,omitempty"`
	Objects   []Object  `json:"objects,omitempty"`
}

// Empty reports whether e holds no fact.
func (e Entry) Empty() bool {
	return len(e.Streams) == 0 && len(e.Shards) == 0 && len(e.Marks) == 0 && len(e.Gaps) == 0 && len(e.Objects) == 0
}

// StreamLabel is the part of a stream ARN that tells its age:
// arn:aws:dynamodb:REGION:ACCOUNT:table/NAME/stream/2015-06-27T00:48:05.899 ends in the
// stream's creation time, which sorts as text. An ARN of another shape is its own label.
func StreamLabel(arn string) string {
	if i := strings.LastIndex(arn, "/stream/"); i >= 0 {
		return arn[i+len("/stream/"):]
	}
	return arn
}

// LabelTime reads the creation time a stream label tells (UTC), when it has that shape.
func LabelTime(label string) (time.Time, bool) {
	t, err := time.Parse("2006-01-02T15:04:05.000", label)
	if err != nil {
		return time.Time{}, false
	}
	return t.UTC(), true
}
