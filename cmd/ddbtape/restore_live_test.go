package main

import (
	"context"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ddbtape/ddbtape/checkpoint"
	"github.com/ddbtape/ddbtape/ddbjson"
	"github.com/ddbtape/ddbtape/internal/backuptest"
	"github.com/ddbtape/ddbtape/internal/ddblocal"
	"github.com/ddbtape/ddbtape/internal/workload"
	"github.com/ddbtape/ddbtape/restore"
	"github.com/ddbtape/ddbtape/storage/dir"
	"github.com/ddbtape/ddbtape/writer"
)

// A restore of the backed-up table into itself while the application keeps writing: every
// key the restore wrote held exactly what it read (so no later write was lost), the keys
// it left alone are conflicts, and undo --restore brings back what the application left.
func TestRestoreIntoTheLiveTable_NeverOverwritesALaterWriteAndUndoRestoreReturnsTheWorkloadsTable(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	db := ddblocal.Shared(t).DynamoDB()
	table := ddblocal.CreateTable(t, db, ddblocal.TableOptions{NoStream: true})
	w := workload.New(db, table, 11, 60)
	if err := w.Run(ctx, 150); err != nil {
		t.Fatal(err)
	}

	// The backup holds the table as it was then (a snapshot at 10:00, covered to 11:00).
	root := t.TempDir()
	bucket, err := dir.New(root)
	if err != nil {
		t.Fatal(err)
	}
	b := &backuptest.Builder{Bucket: bucket, Table: table, SpoolDir: t.TempDir(),
		KeySchema:            []writer.KeyElement{{AttributeName: "pk", KeyType: "HASH"}, {AttributeName: "sk", KeyType: "RANGE"}},
		AttributeDefinitions: []writer.AttributeDefinition{{AttributeName: "pk", AttributeType: "S"}, {AttributeName: "sk", AttributeType: "S"}}}
	s0 := w.Snapshot()
	keys := slices.Sorted(maps.Keys(s0))
	if _, err := b.Snapshot(ctx, "snap-1", fixtureT0, fixtureT0.Add(time.Minute), len(keys), 50, func(i int) writer.SnapshotItem {
		return writer.SnapshotItem{Keys: keys[i], Item: s0[keys[i]]}
	}); err != nil {
		t.Fatal(err)
	}
	if err := b.Checkpoint(ctx, []checkpoint.Position{{StreamARN: fixtureStream, ShardID: "shardId-1", CoveredFrom: fixtureT0.Add(-time.Hour), CoveredUntil: fixtureT0.Add(time.Hour)}}); err != nil {
		t.Fatal(err)
	}

	// The application goes on, and keeps writing while the table is restored to 10:30.
	if err := w.Run(ctx, 150); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var werr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			if werr = w.Step(ctx); werr != nil {
				return
			}
		}
	}()
	opsBefore := w.Ops()
	res := ddbtape(ctx, t, nil, "restore", "--source", root, "--table", table, "--at", "2026-03-01T10:30:00Z", "--to-table", table, "--yes", "--write-workers", "4")
	close(stop)
	wg.Wait()
	if werr != nil {
		t.Fatal(werr)
	}
	if res.code != 0 {
		t.Fatalf("restore into the live table: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	if !strings.Contains(res.stdout, "WARNING: "+table+" is the backed-up table itself") {
		t.Errorf("the plan does not say loudly that the target is the backed-up table:\n%s", res.stdout)
	}
	id := restoreLogID(t, res.stdout)
	conflicts := map[string]bool{}
	for _, l := range strings.Split(res.stdout, "\n") {
		if rest, ok := strings.CutPrefix(l, "conflict "); ok {
			k, _, _ := strings.Cut(rest, ": ")
			conflicts[canonicalJSON(t, k)] = true
		}
	}
	written := map[string]restore.Change{}
	h, err := restore.ReadLog(ctx, bucket, table, id, func(c restore.Change) error {
		written[canonicalJSON(t, c.Key)] = c
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d application writes during the restore; the restore wrote %d keys (log by %s), left %d conflicts", w.Ops()-opsBefore, len(written), h.Who, len(conflicts))

	// Every key the table holds differently from the application's last write was
	// written by the restore, over exactly that last write: nothing later was overwritten.
	model := w.Snapshot()
	live, err := workload.ScanAll(ctx, db, table)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range slices.Sorted(maps.Keys(union(model, live))) {
		if live[k] == model[k] {
			continue
		}
		c, ok := written[k]
		switch {
		case !ok:
			t.Errorf("key %s: the table holds %q, the application wrote %q last, and the restore did not write it", k, live[k], model[k])
		case canonicalJSON(t, c.Item) != live[k] || canonicalJSON(t, c.Expect) != model[k]:
			t.Errorf("key %s: the restore wrote %q over %q, but the application wrote %q last (the table holds %q)", k, c.Item, c.Expect, model[k], live[k])
		}
	}
	for k := range conflicts {
		if _, ok := written[k]; ok {
			t.Errorf("key %s is both a conflict and written", k)
		}
	}

	// undo --restore: the table is what the application left. One write of the
	// application's leaves no trace: deleting an item the restore had deleted already
	// changes nothing (DynamoDB records no change), so that item comes back as the restore
	// found it.
	want := maps.Clone(model)
	for k, c := range written {
		if c.Delete() && model[k] == "" && live[k] == "" {
			want[k] = canonicalJSON(t, c.Expect)
		}
	}
	res = ddbtape(ctx, t, nil, "undo", "--source", root, "--table", table, "--restore", id, "--yes")
	if res.code != 0 {
		t.Fatalf("undo --restore: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	if live, err = workload.ScanAll(ctx, db, table); err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(live, want) {
		t.Errorf("after undo --restore %s the table is not what the application left:%s\nundo printed:\n%s", id, diffModels(live, want), res.stdout)
	}
}

func union(a, b map[string]string) map[string]bool {
	out := map[string]bool{}
	for k := range a {
		out[k] = true
	}
	for k := range b {
		out[k] = true
	}
	return out
}

// canonicalJSON is s in ddbjson.Canonical form; "" stays "".
func canonicalJSON(t *testing.T, s string) string {
	t.Helper()
	if s == "" {
		return ""
	}
	c, err := ddbjson.Canonical(s)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
