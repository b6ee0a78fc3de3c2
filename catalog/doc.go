// Package catalog is the read model of a backup: what a destination holds for a table
// (snapshots, change segments, coverage) and what it can restore (windows, the plan for a
// time T).
//
// NewPlan is a pure function over a Listing that picks a snapshot and the segments, or
// refuses with ErrNoCoverage; package replay does the I/O.
//
// # Coverage model
//
// Stamps. DynamoDB stamps a record's ApproximateCreationDateTime rounded down to the second
// (DynamoDB Local: to the minute), so a change made at wall time w carries a stamp in
// (w-unit, w]. StampMargin (one minute) covers that unit and clock skew between this host
// and DynamoDB. Every time below except a snapshot's StartedAt/FinishedAt is in stamp time.
//
// Shards. For each shard the checkpoint records a Position:
//   - CoveredFrom: records stamped before it may be missing. A child shard whose
//     CoveredFrom is zero inherits its parent's (effective CoveredFrom). A shard without a
//     parent among the positions (a root) must have one; a root without one covers nothing.
//   - CoveredUntil: every record stamped at or before it is stored.
//   - Finished, ParentShardID, StreamARN.
//
// The window end is the minimum CoveredUntil over the leaf shards: the positions of the
// newest stream (by the stream label, the timestamp an ARN ends with) that are nobody's
// parent among the positions. A leaf never polled empty has no CoveredUntil and holds the
// window end at zero: nothing is restorable until every shard has caught up once.
//
// Gaps. A Gap (From, DetectedAt] is a stretch of stamps that was lost; a zero From means
// unknown, so the gap reaches back to the beginning of time.
//
// A plan for T. Take the newest complete snapshot S (its manifest exists) with
// S.FinishedAt <= T and replay from R = S.StartedAt - StampMargin. [R, T] is covered iff
//   - T <= the window end,
//   - every position of the newest stream has an effective CoveredFrom <= R (for a child
//     that inherits this is its root's; checking all positions rather than only the roots
//     also refuses a child that started late with a CoveredFrom of its own), and
//   - no gap (From, DetectedAt] intersects [R, T].
//
// When the newest candidate snapshot is not covered an older one is tried; if none is,
// NewPlan returns a *CoverageError (wrapping ErrNoCoverage) that names the interval, the
// shard or gap at fault and the restorable windows. Each complete snapshot S opens a window
// at S.FinishedAt that runs to the window end or to the From of the first gap detected at
// or after its R; Windows returns their union, which is exactly the set of T NewPlan
// accepts.
//
// Segments. Per shard, segments are sorted by first sequence number. A segment is skipped
// when the next segment of the same shard starts after it ends and in an hour partition
// before R's hour (all of its records precede R), or when its own hour partition is after
// T's hour (all of its records follow T); both hours are taken a StampMargin further out,
// so a record stamped slightly out of sequence order cannot hide in a skipped segment. Segments of shards the checkpoint does not know
// (a crash between storing a segment and the shard's first checkpoint) are included.
// When in doubt a segment is included: reading an extra one costs time, missing one is
// wrong.
//
// Merge. Per key: changes are deduplicated by (shard id, sequence number), ordered by
// (stream, lineage depth of the shard, sequence number) and the last change with
// R <= ApproximateCreationTime <= T wins: REMOVE deletes the item, anything else sets the
// NewImage. A key without such a change keeps the snapshot's item.
//
// The lower bound R is deliberate. A change stamped before R was made before the scan
// started, so the snapshot already holds it or something later; replaying it could only
// take the item back in time, and would when a later change before R is missing (lost in
// a gap that closed before R, or in a skipped segment). Every change stamped in [R, T] is
// stored (coverage), and every change the fuzzy scan saw is stamped at most
// S.FinishedAt <= T, so the last change in [R, T] is the item's state at T, whatever
// moment of the scan read the item.
//
// Ordering across streams (a table whose stream was disabled and enabled again) compares
// the stream label first: every change of an older stream precedes every change of a
// newer one. A shard the checkpoint does not know is ordered after every known shard of
// its stream, which is where a crash before its first checkpoint leaves it.
package catalog
