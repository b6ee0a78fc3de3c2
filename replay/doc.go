// Package replay rebuilds the items of a table at a moment T from a catalog.Plan: it
// reads the base snapshot's parts and the change segments the plan names (BucketReader
// checks every part against its manifest), and merges every key in merge order (the
// plan's Lineage), the last change stamped in [ReplayFrom, T] winning over the
// snapshot's copy. Memory stays bounded: keys are partitioned by hash and spilled to
// disk, one partition merged at a time. The same hash (KeyHash) splits a restore among
// processes: each restores one Partition of the keys.
//
// restore writes what Apply yields to its targets; compact writes it as a new snapshot.
package replay
