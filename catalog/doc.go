// Package catalog is the read model of a backup: what a destination holds for a table
// (snapshots, change segments, and the coverage its ledger proves) and what it can
// restore (windows, the plan for a time T, the segments of a time range, status). The
// destination alone is enough: a checkpoint store, when given, can only add coverage.
//
// NewPlan is a pure function over a Listing that picks a snapshot and the segments, or
// refuses with ErrNoCoverage; package replay does the I/O. PlanHeld lists, takes the
// readers' retention lock, lists again and plans (see lock.go for the lock protocol).
//
// # Coverage model
//
// Stamps. DynamoDB stamps a record's ApproximateCreationDateTime rounded down to the second
// (DynamoDB Local: to the minute), so a change made at wall time w carries a stamp in
// (w-unit, w]. StampMargin (one minute) covers that unit, clock skew and the time a
// record takes to appear in the stream. Every time below except a snapshot's
// StartedAt/FinishedAt is in stamp time.
//
// Facts. The ledger (package ledger) records, for each stream, when DynamoDB created it
// and its latest listing whose shards are all recorded (ListedAt); for each shard, its
// parent and a strict lower bound of its stamps (BornAfter); for each shard, coverage
// claims "every record stamped in [From, Until] is stored", or "from From to the shard's
// end" once it was read to its end, with when it ended (EndedBy, an upper bound of its
// stamps); and gaps, stretches (From, To] of a shard known lost. A checkpoint store's
// positions state the same facts (FromCheckpoint). A shard's claims combine as the union
// of their spans; OpenUntil is how far it was covered while it was still open.
//
// A shard's lower bound (born) is the latest of its BornAfter, its stream's creation less
// StampMargin, and its parent's OpenUntil: a child receives records only after its parent
// closed, and the parent's open coverage came either from a poll that found it caught up
// while open (every later write went to a child) or from a stored record (a child's
// records are stamped no earlier).
//
// The rules. For a snapshot S that started at S0, replayed from R = S0 - StampMargin, a
// time T >= S.FinishedAt is restorable iff every constraint below allows T:
//
//   - Every shard the stream lists holds back the window's end until it is covered,
//     whether or not it has a checkpoint yet: for each shard of the newest stream not
//     ended before R (EndedBy < R), the span holding max(R, born) must reach T; when no
//     span holds it, T may be at most born (none of its records is stamped earlier) if
//     born >= R, else nothing from R is restorable.
//   - A shard read to its end whose children are not listed yet holds the end at its
//     OpenUntil: its children, not read by anyone, receive records stamped after it.
//   - A stream that has no shard recorded covers nothing.
//   - The window end is a moment DynamoDB has passed by its own clock, less a margin:
//     coverage from polls is DynamoDB's Date less StampMargin (capture), and T may be at
//     most the newest stream's ListedAt less StampMargin, since a shard created after
//     that listing may exist unrecorded. So `--at now` trails the present by a minute to
//     a minute and a half (capture lists shards every 30 s).
//   - Coverage never starts before the stream existed: a snapshot that started before
//     the table's first stream was created opens no window (changes between the two are
//     in no stream). SnapshotPlan restores such a snapshot alone, at its finish.
//   - A replaced stream keeps its own era. When S started before the next stream was
//     created, T may be at most where the old stream's coverage ends, judged by the old
//     stream's shards as above (its least covered leaf): the time between the streams is
//     a gap. When S started after the next stream was created and R is before it, every
//     shard of the old stream must be covered from R to its end (its unread tail
//     drained), else S opens no window.
//   - A gap (From, To] with To >= R limits T to From.
//
// Windows returns, per snapshot, [S.FinishedAt, the last T allowed], merged; NewPlan
// accepts exactly those times. Status prints each window's first and last whole second,
// both of which restore takes back.
//
// Segments. Per shard, segments are sorted by first sequence number. A segment is skipped
// when the next segment of the same shard starts after it ends and in an hour partition
// before R's hour (all of its records precede R), when it holds the shard's last stored
// record and the ledger stamps that record before R, or when its own hour partition is
// after T's hour (all of its records follow T); each with a StampMargin to spare, so a
// record stamped slightly out of sequence order cannot hide in a skipped segment.
// Segments of shards the ledger does not know (a crash between storing a segment and
// recording its shard) are included. When in doubt a segment is included: reading an
// extra one costs time, missing one is wrong. Retention deletes exactly the segments
// SegmentsBetween leaves out of every range from its kept replay start on.
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
// newer one. A shard the ledger does not know is ordered after every known shard of its
// stream, which is where a crash before its first record leaves it.
package catalog
