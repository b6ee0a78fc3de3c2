package restore

import (
	"fmt"
	"io"
	"time"

	"github.com/ddbtape/ddbtape/catalog"
	"github.com/ddbtape/ddbtape/globaltable"
	"github.com/ddbtape/ddbtape/progress"
	"github.com/ddbtape/ddbtape/replay"
)

// This file holds the lines a restore prints: what it reads, what it would write and
// what it wrote.

// Announce says on w what a restore of plan p reads, and which keys a partition writes.
func Announce(w io.Writer, p catalog.Plan, part replay.Partition) {
	m := p.Snapshot.Manifest
	if p.ReplayFrom.After(p.At) {
		fmt.Fprintf(w, "restoring snapshot %s of %s alone (%d items, finished %s): no change is replayed, each item is as the scan read it\n",
			p.Snapshot.ID, p.Table, m.ItemCount, m.FinishedAt.Format(time.RFC3339))
	} else {
		fmt.Fprintf(w, "restoring %s at %s from snapshot %s (%d items, finished %s) and %d segments replayed from %s\n",
			p.Table, p.At.Format(time.RFC3339Nano), p.Snapshot.ID, m.ItemCount, m.FinishedAt.Format(time.RFC3339), len(p.Segments), p.ReplayFrom.Format(time.RFC3339))
	}
	if !part.Whole() {
		// So that each partition's log tells what it did.
		fmt.Fprintf(w, "partition %s: restoring only the keys whose FNV-1a hash modulo %d is %d; the other partitions write the rest\n",
			part, part.Count, part.Index)
	}
}

// partitionNote ends a restore's summary line with its partition.
func partitionNote(part replay.Partition) string {
	if part.Whole() {
		return ""
	}
	return fmt.Sprintf(" (partition %s)", part)
}

// Report says on out what a restore of plan p into t did (res), and on notes what a
// new table lacks that the backed-up one had. newTable names the table a dry run of
// --create would have made.
func Report(out, notes io.Writer, p catalog.Plan, t Target, res Result, part replay.Partition, newTable string) {
	at := p.At.Format(time.RFC3339Nano)
	switch t := t.(type) {
	case *File:
		fmt.Fprintf(out, "restored %s of %s at %s to %s%s\n", progress.Count(t.Items(), "item"), p.Table, at, t.Path(), partitionNote(part))
	case *DryRun:
		fmt.Fprintf(out, "dry run: would create table %s and put %s\n", newTable, progress.Count(res.Counts.Inserts, "item"))
	case *Table:
		fmt.Fprintf(out, "restored %s of %s at %s into new table %s%s\n", progress.Count(t.Written().Puts, "item"), p.Table, at, t.Name(), partitionNote(part))
		if m := p.Snapshot.Manifest; m.GlobalTableVersion != "" || len(m.Replicas) > 0 {
			g := globaltable.Info{Region: m.Region, Version: m.GlobalTableVersion, Replicas: m.Replicas}
			fmt.Fprintf(notes, "%s was a %s; %s is a single-region table: add replicas with aws dynamodb update-table --table-name %s --replica-updates '[{\"Create\":{\"RegionName\":\"REGION\"}}]' (README: Global tables)\n",
				p.Table, g, t.Name(), t.Name())
		}
	}
}

// ReportImportFiles says on w what restore --to-s3 wrote into t and, unless the restore
// imports them itself, how to import them (local: the files are in a directory).
func ReportImportFiles(w io.Writer, p catalog.Plan, t *ImportFiles, part replay.Partition, imports, local bool) {
	m := t.Manifest()
	fmt.Fprintf(w, "restored %d items of %s at %s to %d files (%d bytes) under %s%s; manifest %s\n",
		m.Items, p.Table, p.At.Format(time.RFC3339Nano), len(m.Files), m.Bytes, t.URL(""), partitionNote(part), t.URL(t.ManifestKey()))
	switch {
	case imports:
	case !part.Whole():
		fmt.Fprintf(w, "once every partition's manifest is there, import them all with:\n%s\n", t.ImportCommand())
	case local:
		fmt.Fprintf(w, "copy the directory to S3 (aws s3 cp --recursive DIR s3://BUCKET/PREFIX/), then import with:\n%s\n", t.ImportCommand())
	default:
		fmt.Fprintf(w, "import with:\n%s\n", t.ImportCommand())
	}
}

// PrintConflicts lists the keys a guarded write left alone, a line each.
func PrintConflicts(w io.Writer, cs []Conflict) {
	for _, c := range cs {
		fmt.Fprintf(w, "conflict %s: %s\n", c.Key, c.Reason)
	}
}

// PlanCounts says what a restore into an existing table would write.
func PlanCounts(c Counts) string {
	return fmt.Sprintf("%s (%s new, %s changed), %s, %s unchanged", progress.Count(c.Inserts+c.Updates, "put"),
		progress.Number(c.Inserts), progress.Number(c.Updates), progress.Count(c.Deletes, "delete"), progress.Number(c.Unchanged))
}
