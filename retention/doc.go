// Package retention deletes the snapshots and change segments that no restore point
// inside the retention window needs, and keeps them while a reader (a restore, a verify,
// a compaction) still uses them.
//
// # What is kept
//
// With retention D, a run at time now keeps every restore point at or after the horizon
// H = now - D. The oldest retained restore point P is the earliest restorable time at or
// after H (H itself when it is inside a restorable window, else the start of the next
// window). Let B be the snapshot catalog.NewPlan picks for P. Then:
//
//   - every complete snapshot ordered before B (by finish, start, id, as the plan orders
//     them) is deleted: for any T >= P the plan picks B or a newer snapshot (if an older
//     one were covered at T, B would be too, since the replay of B is covered up to P);
//   - B and every newer snapshot are kept, so the restorable window afterwards starts at
//     B's finished_at, which is at or before H: a little more than D is kept, never less;
//   - an incomplete snapshot (no manifest) is deleted when it started before B and nothing
//     in it changed for IncompleteGrace (24 h), so a scan that is still running, or one
//     that may be resumed, is never taken away;
//   - a change segment is deleted only when all its records are stamped, with a
//     catalog.StampMargin to spare, before the replay start of every snapshot kept
//     (complete or not), judged from names alone: by the hour partition of the next
//     segment of its shard, exactly the rule by which a restore skips segments, or, for
//     a shard's last segment, by the checkpoint's LastRecordTime. A segment is deleted
//     only if no plan over the kept snapshots would have read a record of it.
//
// When nothing is restorable at or after H (capture stopped long ago, or a gap with no
// snapshot after it), nothing is deleted: the last restorable state is worth more than
// the space. Hour partitions make segment deletion lag up to two hours behind the
// horizon; snapshots are deleted to the second.
//
// In a bucket with S3 Object Lock a run deletes only what is past its retention and says
// what it left (lock.go). After deleting, a run consolidates the table's ledger (ledger.
// Writer.Consolidate), dropping the facts of the segments it deleted: consolidation
// deletes, so it is a job of the role that may.
//
// Deletion order makes an interrupted run harmless: a snapshot's manifest goes first (the
// snapshot becomes incomplete and no restore picks it), then its other objects, then the
// segments. The next run finishes what was left.
//
// # A base is adopted only whole
//
// Deleting what is older than B is safe only if B restores. Before a run that deletes
// anything adopts B, it confirms that every part B's manifest lists is present, of the
// size the manifest says, and of its SHA-256. A damaged B (a part missing, truncated or
// changed; or a manifest left without its parts, as a compaction's clean-up once did) is
// not adopted: the run logs an error naming it, reports it in Result.Rejected, and
// decides again as if B did not exist, so the older snapshot that a restore would need
// instead, and its segments, stay. B itself is kept for inspection; a new snapshot
// replaces it.
//
// Checking the SHA-256 means reading the whole snapshot, and the base changes rarely (when
// a newer snapshot passes the horizon), so a run does not repeat it every hour: a
// Verified, kept by the process (the scheduler keeps one per table), remembers the
// snapshots already read, keyed by id and the manifest's part list. Presence and size are
// checked on every run from the listing the run makes anyway, at no cost. A remembered
// snapshot whose part was later changed in place, keeping its size, is therefore caught
// only by the next process (or by restore and verify, which check every part they read).
// The other choice, a verified marker object written into the snapshot directory, would
// spare a restarted process the reading too, but would add an object kind to the backup's
// layout that every reader of a snapshot directory must know to ignore, and a claim that
// outlives the bytes it vouches for; reading a base once per process is cheap next to
// the scan or compaction that made it.
//
// # Readers: locks and the horizon marker
//
// A reader plans from a listing and then reads files for minutes or hours; retention
// must not delete them meanwhile. Readers therefore hold a lock, an object
//
//	<table>/locks/<id>.json    {"at": T, "expires": ..., "purpose": ..., "owner": ...}
//
// saying "keep what a restore at T needs", renewed every TTL/3 while the reader runs and
// marked released when it ends (Hold does all of this; readers delete nothing, so a
// reader's role needs no delete permission). A run takes the earliest T of the live locks
// as its horizon when it is earlier than now - D. A lock counts as live until it is
// released or its expiry plus LockSkew (clock skew between hosts) has passed; a run
// deletes the others.
//
// A lock written while a run is deciding would be missed, so runs and readers also
// share a marker, <table>/retention.json, holding the window start the run is about to
// establish (B's finished_at; it only moves forward). A run writes the marker, then
// lists the locks again, and deletes nothing if a lock it had not seen asks for a time
// before the new start. A reader writes its lock, then reads the marker, and gives up
// with ErrPruned if its time is before the marker's. Whichever order the four steps
// happen in, either the run sees the lock or the reader sees the marker (the store is
// read-after-write consistent: a directory, or S3). So a reader must Hold before it
// lists the backup it plans from.
package retention
