package main

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ddbtape/ddbtape/checkpoint"
	"github.com/ddbtape/ddbtape/config"
	"github.com/ddbtape/ddbtape/internal/backuptest"
	"github.com/ddbtape/ddbtape/metrics"
	"github.com/ddbtape/ddbtape/schedule"
	"github.com/ddbtape/ddbtape/storage"
	"github.com/ddbtape/ddbtape/storage/dir"
	"github.com/ddbtape/ddbtape/writer"
)

// ledgerHistory writes six hours of backup of table "ledger" into a new directory: items
// p0..p4, one of them changed every ten minutes on one shard (a segment per half hour),
// scan snapshots at 00:00, 02:00 and 04:00 (each holding the state at its start, five
// minutes long), covered until 06:00. state(T) is the table at T.
func ledgerHistory(t *testing.T) (root string, b *backuptest.Builder, snaps []writer.Manifest, state func(time.Time) map[string]string) {
	t.Helper()
	ctx := context.Background()
	root = t.TempDir()
	bucket, err := dir.New(root)
	if err != nil {
		t.Fatal(err)
	}
	b = &backuptest.Builder{Bucket: bucket, Table: "ledger", SpoolDir: t.TempDir()}
	var changes []writer.Change
	for i := 1; i < 36; i++ {
		c := bookChange("ledger", 100+i, fixtureT0.Add(time.Duration(i)*10*time.Minute), "MODIFY", fmt.Sprint("p", i%5), i)
		changes = append(changes, c)
	}
	state = func(at time.Time) map[string]string {
		out := map[string]string{}
		for i := range 5 {
			out[fmt.Sprint("p", i)] = bookItem(fmt.Sprint("p", i), 0)
		}
		for _, c := range changes {
			if !c.ApproximateCreationTime.After(at) {
				out[c.Keys[len(`{"pk":{"S":"`):len(`{"pk":{"S":"`)+2]] = *c.NewImage
			}
		}
		return out
	}
	for i := 0; i < len(changes); i += 3 {
		if _, err := b.Segment(ctx, changes[i:min(i+3, len(changes))]); err != nil {
			t.Fatal(err)
		}
	}
	for h := 0; h < 6; h += 2 {
		start := fixtureT0.Add(time.Duration(h) * time.Hour)
		items := state(start)
		keys := slices.Sorted(maps.Keys(items))
		m, err := b.Snapshot(ctx, fmt.Sprintf("%s-%04x", start.Format("20060102T150405Z"), h), start, start.Add(5*time.Minute), len(keys), 2,
			func(i int) writer.SnapshotItem {
				return writer.SnapshotItem{Keys: fmt.Sprintf(`{"pk":{"S":%q}}`, keys[i]), Item: items[keys[i]]}
			})
		if err != nil {
			t.Fatal(err)
		}
		snaps = append(snaps, m)
	}
	last := changes[len(changes)-1]
	if err := b.Checkpoint(ctx, []checkpoint.Position{{StreamARN: fixtureStream, ShardID: "shardId-1", CoveredFrom: fixtureT0.Add(-time.Hour),
		CoveredUntil: fixtureT0.Add(6 * time.Hour), SequenceNumber: last.SequenceNumber, LastRecordTime: last.ApproximateCreationTime}}); err != nil {
		t.Fatal(err)
	}
	return root, b, snaps, state
}

func objectCount(t *testing.T, b storage.Bucket, prefix string) int {
	t.Helper()
	objs, err := b.List(context.Background(), prefix)
	if err != nil {
		t.Fatal(err)
	}
	return len(objs)
}

// TestRetentionJob_DeletesOldBackupAndRestoresReachExactlyTheOldestRetainedPoint runs the
// retention job of `ddbtape run` (3 hours kept, at 06:00) over six hours of backup: the
// 00:00 snapshot and the segments only it needed go, the window gauge moves to the 02:00
// snapshot's finish, a restore there equals the table then, and one a second earlier
// fails naming the window.
func TestRetentionJob_DeletesOldBackupAndRestoresReachExactlyTheOldestRetainedPoint(t *testing.T) {
	root, b, snaps, state := ledgerHistory(t)
	segsBefore := objectCount(t, b.Bucket, writer.ChangesPrefix("ledger"))
	end := fixtureT0.Add(6 * time.Hour)
	rec := metrics.New(metrics.Options{NoRuntime: true})
	deps := schedule.Deps{Bucket: b.Bucket, Logger: slog.New(slog.DiscardHandler), Now: func() time.Time { return end }}
	j := schedule.NewTable(deps, config.Table{Name: "ledger", Retention: 3 * time.Hour, Roll: config.Roll{Age: time.Second}}, b.Checkpoints(), rec).RetentionJob()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	jobCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- j.Run(jobCtx) }()
	waitFor(t, 30*time.Second, "the 00:00 snapshot to be deleted", func() bool {
		return objectCount(t, b.Bucket, writer.SnapshotDir("ledger", snaps[0].SnapshotID)) == 0
	})
	// The gauges are set after the deletion; give the job a moment to get there.
	start := snaps[1].FinishedAt // 02:05, the snapshot a restore at the horizon 03:00 uses
	waitFor(t, 10*time.Second, "the window gauge to move", func() bool {
		v, ok := metricValue(gather(t, rec), "ddbtape_restorable_window_start_timestamp_seconds", `table="ledger"`)
		return ok && v == float64(start.Unix())
	})
	stop()
	if err := <-done; err != nil {
		t.Fatalf("retention job: %v", err)
	}

	for _, m := range snaps[1:] {
		if objectCount(t, b.Bucket, writer.SnapshotDir("ledger", m.SnapshotID)) != len(m.Parts)+1 {
			t.Errorf("snapshot %s lost files", m.SnapshotID)
		}
	}
	// Segments of 30 minutes; the replay of the 02:00 snapshot starts at 01:59, so only
	// the ones followed by another in hour 00 may go: the first of them.
	if after := objectCount(t, b.Bucket, writer.ChangesPrefix("ledger")); after != segsBefore-1 {
		t.Errorf("%d segments left of %d, want one deleted", after, segsBefore)
	}

	out := filepath.Join(t.TempDir(), "at-start.json")
	res := runCLI(t, "restore", "--source", root, "--table", "ledger", "--at", start.Format(time.RFC3339), "--to-file", out)
	if res.code != 0 {
		t.Fatalf("restore at the oldest retained point: exit %d: %s", res.code, res.stderr)
	}
	var want []string
	for _, item := range state(start) {
		want = append(want, `{"Item":`+item+`}`)
	}
	slices.Sort(want)
	if got := readItems(t, out); !slices.Equal(got, want) {
		t.Errorf("restore at %s:\n%v\nwant\n%v", start, got, want)
	}
	before := start.Add(-time.Second)
	res = runCLI(t, "restore", "--source", root, "--table", "ledger", "--at", before.Format(time.RFC3339), "--to-file", filepath.Join(t.TempDir(), "x.json"))
	window := "restorable window: " + start.Format(time.RFC3339) + " to " + end.Format(time.RFC3339)
	if res.code != 1 || !strings.Contains(res.stderr, window) {
		t.Errorf("restore a second before the window: exit %d, stderr %q; want 1 naming %q", res.code, res.stderr, window)
	}
}

// gather renders rec's registry in the text exposition, as /metrics serves it.
func gather(t *testing.T, rec *metrics.Metrics) string {
	t.Helper()
	mfs, err := rec.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			if g := m.GetGauge(); g != nil {
				fmt.Fprintf(&b, "%s{%s} %v\n", mf.GetName(), strings.Join(labels, ","), g.GetValue())
			}
		}
	}
	return b.String()
}
