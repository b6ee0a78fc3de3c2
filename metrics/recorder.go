// Package metrics exports what ddbtape does as Prometheus metrics, and serves them with
// health and readiness endpoints.
//
// The capture pipeline, snapshot and compaction report through the small Recorder
// interface; *Metrics implements it over a registry of its own (no global state), and
// Nop ignores everything, for code run without metrics. Every metric is named ddbtape_*
// and labelled by table; per-shard gauges also by shard.
//
// Why counters carry no shard label: a stream closes its shards every few hours and opens
// new ones, so per-shard counters would grow the series count without bound. Per-shard
// gauges (lag, idle time, checkpoint age) exist only while a shard is being read and are
// dropped when it stops.
package metrics

import "time"

// Recorder receives events from the pipeline. Implementations are safe for concurrent use
// and never block on I/O: they are called from the read loop of every shard.
type Recorder interface {
	// ShardStarted and ShardStopped bracket the reading of one shard (stopped: read to its
	// end, or reading ended). Per-shard gauges exist between the two.
	ShardStarted(table, shard string)
	ShardStopped(table, shard string)
	// GetRecordsCall counts one GetRecords request, the unit DynamoDB Streams bills,
	// whatever its outcome.
	GetRecordsCall(table, shard string)
	// RecordsCaptured reports a non-empty batch: n records of bytes total size (the
	// records' SizeBytes), the last one created at lastCreated.
	RecordsCaptured(table, shard string, n int, bytes int64, lastCreated time.Time)
	// ShardCaughtUp reports a poll at polledAt that found nothing new: the shard is read
	// through polledAt.
	ShardCaughtUp(table, shard string, polledAt time.Time)
	// Throttled counts a call refused for rate (LimitExceeded, ProvisionedThroughput-
	// Exceeded, Throttling, RequestLimitExceeded, HTTP 429); op is the API operation
	// (GetRecords, Scan, PutObject, ...). Retried counts any retried attempt, throttled
	// or not.
	Throttled(table, op string)
	Retried(table, op string)
	// SegmentWritten reports a change segment durably stored.
	SegmentWritten(table string, records int, bytes int64)
	// CheckpointSaved reports a shard's checkpoint saved at at.
	CheckpointSaved(table, shard string, at time.Time)
	// Gap reports a stretch of a shard lost before it was read (a gap in the backup);
	// cause is the ledger's (ledger.CauseTrimmed, CauseVanished, CauseContinuity).
	Gap(table, shard, cause string)
	// RetriesExhausted reports a retry loop that gave up: op kept failing with retryable
	// errors for its whole retry bound (an API operation such as GetRecords or Scan, or
	// what was being stored: segment, checkpoint, ledger). What it was doing stopped.
	RetriesExhausted(table, op string)
	// LeasesUnowned reports, after a lease heartbeat, how many of the table's shards that
	// can be read now have no live owner (nobody holds their lease, or it expired).
	LeasesUnowned(table string, n int)
	// SnapshotFinished and CompactionFinished report a run that took took; err nil means
	// it succeeded.
	SnapshotFinished(table string, took time.Duration, err error)
	CompactionFinished(table string, took time.Duration, err error)
	// RestorableWindow reports the window a restore can reach: from the oldest usable
	// snapshot's end to the latest covered moment. Zero times mean "no window".
	RestorableWindow(table string, from, until time.Time)
	// NewestSnapshot reports when the newest complete scan snapshot of the table finished
	// (zero: the table has none); its age is computed at scrape time.
	NewestSnapshot(table string, finished time.Time)
	// TableScheduled announces a table and its schedules when `run` starts it, so that
	// alerts can compare ages with intervals and every counter an alert watches exists
	// (at zero) before its first event.
	TableScheduled(table string, s Schedule)
	// VerifyFinished reports a scheduled verification that ran to its end (or failed to);
	// VerifyKnown sets the same gauges from a stored report without counting a run (what
	// a restarted process knows of the last one).
	VerifyFinished(table string, v Verification)
	VerifyKnown(table string, v Verification)
}

// Schedule is what TableScheduled announces; a zero interval means "not scheduled".
type Schedule struct {
	SnapshotEvery time.Duration
	VerifyEvery   time.Duration
}

// Results of a verification (Verification.Result).
const (
	VerifyPass  = "pass"  // the backup equals the table, up to differences later changes explain
	VerifyFail  = "fail"  // some items differ with no later change explaining it
	VerifyError = "error" // the verification could not finish (nothing is concluded)
)

// Verification is the outcome of one verification.
type Verification struct {
	Result string
	// Compared is how many items were compared; Mismatches how many differed with no
	// later change explaining it; Expected how many differed because of a write after
	// the moment verified. They are unset for VerifyError.
	Compared, Mismatches, Expected int64
	// LastPass is when the newest passing verification finished; zero when none did.
	LastPass time.Time
}

// Nop is a Recorder that records nothing.
type Nop struct{}

var _ Recorder = Nop{}

func (Nop) ShardStarted(table, shard string)                                  {}
func (Nop) ShardStopped(table, shard string)                                  {}
func (Nop) GetRecordsCall(table, shard string)                                {}
func (Nop) RecordsCaptured(table, shard string, n int, b int64, lc time.Time) {}
func (Nop) ShardCaughtUp(table, shard string, polledAt time.Time)             {}
func (Nop) Throttled(table, op string)                                        {}
func (Nop) Retried(table, op string)                                          {}
func (Nop) SegmentWritten(table string, records int, bytes int64)             {}
func (Nop) CheckpointSaved(table, shard string, at time.Time)                 {}
func (Nop) Gap(table, shard, cause string)                                    {}
func (Nop) RetriesExhausted(table, op string)                                 {}
func (Nop) LeasesUnowned(table string, n int)                                 {}
func (Nop) NewestSnapshot(table string, finished time.Time)                   {}
func (Nop) TableScheduled(table string, s Schedule)                           {}
func (Nop) VerifyFinished(table string, v Verification)                       {}
func (Nop) VerifyKnown(table string, v Verification)                          {}
func (Nop) SnapshotFinished(table string, took time.Duration, err error)      {}
func (Nop) CompactionFinished(table string, took time.Duration, err error)    {}
func (Nop) RestorableWindow(table string, from, until time.Time)              {}
