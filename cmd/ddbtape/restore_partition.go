package main

import (
	"context"
	"fmt"

	"github.com/ddbtape/ddbtape/replay"
	"github.com/ddbtape/ddbtape/restore"
)

// announcePartition says which keys a partitioned restore writes, so each partition's log
// tells what it did.
func announcePartition(e *env, part replay.Partition) {
	if part.Whole() {
		return
	}
	fmt.Fprintf(e.stderr, "partition %s: restoring only the keys whose FNV-1a hash modulo %d is %d; the other partitions write the rest\n",
		part, part.Count, part.Index)
}

// partitionNote ends a restore's summary line with its partition.
func partitionNote(part replay.Partition) string {
	if part.Whole() {
		return ""
	}
	return fmt.Sprintf(" (partition %s)", part)
}

// createShared creates the new table of a partitioned restore, or takes the one another
// partition created, and says which.
func createShared(ctx context.Context, e *env, t *restore.Table, part replay.Partition) error {
	created, err := t.CreateShared(ctx)
	switch {
	case err != nil:
		return err
	case created:
		fmt.Fprintf(e.stderr, "created table %s (partition %s)\n", t.Name(), part)
	default:
		fmt.Fprintf(e.stderr, "table %s exists and has the backup's key schema: taken as created by another partition of this restore (partition %s)\n", t.Name(), part)
	}
	return nil
}
