package main

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ddbtape/ddbtape/internal/ddblocal"
	"github.com/ddbtape/ddbtape/internal/workload"
	"github.com/ddbtape/ddbtape/shards"
	"github.com/ddbtape/ddbtape/writer"
)

// The messages a user sees while the destination cannot be written (docs/troubleshooting.md
// quotes them).
const (
	msgCannotStore  = "cannot store; retrying, reading paused and checkpoint not advanced"
	msgStoredAgain  = "stored after retries"
	errNoSpace      = "no space left on device"
	errReadOnlyFile = "read-only file system"
)

// TestCapture_FullOrReadOnlyDestinationPausesCheckpointsAndResumesLosingNothing fills the
// destination disk for real (a small tmpfs) or remounts it read-only while capture runs
// and writes go on. Capture must say so, store no segment and move no checkpoint while the
// disk refuses writes, never checkpoint past a record it has not stored, and once the
// disk takes writes again store every stream record exactly once without a restart.
func TestCapture_FullOrReadOnlyDestinationPausesCheckpointsAndResumesLosingNothing(t *testing.T) {
	cases := []struct {
		name                 string
		readOnly             bool
		checkpointsElsewhere bool
		cause                string
	}{
		{"disk full, checkpoints beside the data", false, false, errNoSpace},
		{"disk full, checkpoints on another disk", false, true, errNoSpace},
		{"read-only, checkpoints beside the data", true, false, errReadOnlyFile},
		{"read-only, checkpoints on another disk", true, true, errReadOnlyFile},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			storeOutage(t, uint64(11+i), c.readOnly, c.checkpointsElsewhere, c.cause)
		})
	}
}

func storeOutage(t *testing.T, seed uint64, readOnly, checkpointsElsewhere bool, cause string) {
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	local := ddblocal.Shared(t)
	db := local.DynamoDB()
	table := ddblocal.CreateTable(t, db, ddblocal.TableOptions{NamePrefix: "diskfull"})
	disk := mountSmallDisk(t, "16m")
	view := disk.View() // the destination as this test reaches it
	w := workload.New(db, table, seed, 150)

	args := []string{"capture", "--table", table, "--dest", disk.Dir, "--roll-records", "20", "--roll-age", "300ms", "--poll-interval", "100ms"}
	ckptPath := filepath.Join(view, filepath.FromSlash(writer.CheckpointsPrefix(table)), table+".json")
	if checkpointsElsewhere {
		ckptDir := t.TempDir()
		args = append(args, "--checkpoint", ckptDir)
		ckptPath = filepath.Join(ckptDir, table+".json")
	}
	var log syncBuffer
	capture := disk.startIn(ctx, t, &log, args...)
	var waitErr error
	exited := make(chan struct{})
	go func() { waitErr = capture.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = capture.Process.Kill()
		<-exited
	})

	var samples []storeSample
	sample := func(when string) storeSample {
		s := sampleStore(t, when, ckptPath, view, table)
		samples = append(samples, s)
		return s
	}
	stored := func() int {
		recs, _ := segmentRecords(t, view, table)
		ids := map[string]bool{}
		for _, r := range recs {
			ids[r.id()] = true
		}
		return len(ids)
	}
	allStored := func(when string) func() (bool, string) {
		return func() (bool, string) {
			sample(when)
			select {
			case <-exited:
				t.Fatalf("capture exited (%v) while it should run:\n%s", waitErr, log.String())
			default:
			}
			n := stored()
			return n == w.Ops(), fmt.Sprintf("%d of %d records stored", n, w.Ops())
		}
	}

	// Healthy: the first writes are stored and checkpointed.
	if err := w.Run(ctx, 100); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 2*time.Minute, "capture stores the first writes", allStored("healthy"))
	// ... and checkpoints them: a checkpoint save still on its way when the outage begins
	// would, with checkpoints on another disk, rightly land during it.
	waitUntil(t, 2*time.Minute, "capture checkpoints the first writes", func() (bool, string) {
		recs, _ := segmentRecords(t, view, table)
		seq, last := readCheckpoint(t, ckptPath), lastSeqs(recs)
		return maps.Equal(seq, last), fmt.Sprintf("checkpoint %v, last stored %v", seq, last)
	})

	// The disk refuses writes; writes to the table go on.
	var filler string
	if readOnly {
		disk.setReadOnly(t, true)
	} else {
		filler = disk.fill(t, "filler")
	}
	before := sample("outage began")
	if err := w.Run(ctx, 100); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, time.Minute, "capture says it cannot store", func() (bool, string) {
		sample("outage")
		out := log.String()
		return strings.Contains(out, msgCannotStore) && strings.Contains(out, cause), "stderr so far:\n" + out
	})
	for range 10 { // the outage goes on for a while
		time.Sleep(300 * time.Millisecond)
		sample("outage")
	}
	during := sample("outage ends")
	if fmt.Sprint(during.segments) != fmt.Sprint(before.segments) {
		t.Errorf("segments changed while the disk refused writes:\nbefore %v\nafter  %v", before.segments, during.segments)
	}
	if fmt.Sprint(during.seq) != fmt.Sprint(before.seq) {
		t.Errorf("a checkpoint advanced while the disk refused writes: %v -> %v", before.seq, during.seq)
	}
	t.Logf("capture said: %s", lineWith(log.String(), msgCannotStore))

	// Space comes back: the same process stores everything and goes on.
	if readOnly {
		disk.setReadOnly(t, false)
	} else if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 2*time.Minute, "capture stores the writes made during the outage", allStored("recovered"))
	if line := lineWith(log.String(), msgStoredAgain); line == "" {
		t.Errorf("capture did not say it stored after retries:\n%s", log.String())
	} else {
		t.Logf("capture said: %s", line)
	}
	if err := w.Run(ctx, 50); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 2*time.Minute, "capture stores the writes after the outage", allStored("after"))

	if err := capture.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	<-exited
	if waitErr != nil {
		t.Fatalf("capture after SIGTERM: %v\n%s", waitErr, log.String())
	}

	stream := drainStream(ctx, t, local.Streams(), ddblocal.StreamARN(t, db, table))
	if len(stream) != w.Ops() {
		t.Fatalf("stream holds %d records, the workload wrote %d", len(stream), w.Ops())
	}
	recs, _ := segmentRecords(t, view, table)
	compareRecords(t, stream, recs, false)
	checkCheckpointsNeverPassedStorage(t, samples, stream, segmentsByKey(t, view, table))
	// The checkpoint caught up too: it names each shard's last record.
	final := readCheckpoint(t, ckptPath)
	lastSeq := map[string]string{}
	for _, r := range stream {
		if shards.SequenceNumber(r.seq).Key() > shards.SequenceNumber(lastSeq[r.shard]).Key() {
			lastSeq[r.shard] = r.seq
		}
	}
	for shard, seq := range lastSeq {
		if final[shard] != seq {
			t.Errorf("final checkpoint of shard %s is %q, its last record %s", shard, final[shard], seq)
		}
	}
	t.Logf("%d writes stored exactly; %d samples of checkpoint and segments checked", w.Ops(), len(samples))
}

// lineWith returns the first line of s that contains want, or "".
func lineWith(s, want string) string {
	for _, line := range strings.Split(s, "\n") {
		if strings.Contains(line, want) {
			return line
		}
	}
	return ""
}
