package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ddbtape/ddbtape/catalog"
	"github.com/ddbtape/ddbtape/internal/ddblocal"
	"github.com/ddbtape/ddbtape/internal/workload"
	"github.com/ddbtape/ddbtape/metrics"
	"github.com/ddbtape/ddbtape/replay"
	"github.com/ddbtape/ddbtape/shards"
	"github.com/ddbtape/ddbtape/storage"
	"github.com/ddbtape/ddbtape/storage/dir"
	"github.com/ddbtape/ddbtape/verify"
	"github.com/ddbtape/ddbtape/writer"
)

// TestRunEndToEnd_ScheduledVerificationPassesWhileWritingAndFailsAfterASegmentIsRemoved
// runs `ddbtape run` with a verification every 5 s against DynamoDB Local. While a
// workload writes, a verification passes, having told writes made after the moment it
// verified from mismatches (ddbtape_verify_expected_differences > 0, no mismatch). Then
// the writes stop and the segment holding the last change of some items is removed
// behind the backup's back: the next verification fails, in the metrics and in
// verify.json, naming such an item.
//
// DynamoDB Local stamps records to the minute, so the window end trails by about a
// minute: the first verification can run about a minute after the snapshot, and each
// re-check waits about a minute for capture to cover the scan's end.
func TestRunEndToEnd_ScheduledVerificationPassesWhileWritingAndFailsAfterASegmentIsRemoved(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 9*time.Minute)
	defer cancel()
	inst := ddblocal.Shared(t)
	db := inst.DynamoDB()
	table := ddblocal.CreateTable(t, db, ddblocal.TableOptions{NamePrefix: "run-verify"})
	load := workload.New(db, table, 41, 40)
	if err := load.Run(ctx, 60); err != nil {
		t.Fatal(err)
	}
	dest := t.TempDir()
	addr := freeAddr(t)
	path := writeConfig(t, fmt.Sprintf(`
app-name: e2e-verify
worker-id: w1
region: us-east-1
endpoint-url: %s
destination: %s
spool-dir: %s
poll-interval: 200ms
roll: {records: 20, age: 1s}
snapshot: {at-start-if-missing: true}
verify: {every: 5s, recheck-within: 4m}
tables:
  - name: %s
http: {address: %q, ready-checkpoint-age: 30s}
shutdown-grace: 20s
`, inst.Endpoint, dest, filepath.Join(t.TempDir(), "spool"), table, addr))

	stderr := &syncBuffer{}
	cmd := ddbtapeCommand(ctx, t, nil, "run", "--config", path)
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() || os.Getenv("DEBUG_RUN_E2E") != "" {
			t.Logf("ddbtape run stderr:\n%s", fleetTail(stderr.String(), 300))
		}
	}()

	// Writes in bursts with pauses (a shard counts as read up to a time only after a poll
	// finds it empty, so the window end moves at the pauses).
	writeCtx, stopWrites := context.WithCancel(ctx)
	defer stopWrites()
	var writers sync.WaitGroup
	writeErr := make(chan error, 1)
	writers.Add(1)
	go func() {
		defer writers.Done()
		for i := 1; writeCtx.Err() == nil; i++ {
			if err := load.Step(writeCtx); err != nil && writeCtx.Err() == nil {
				writeErr <- err
				return
			}
			pause := 50 * time.Millisecond
			if i%8 == 0 {
				pause = 800 * time.Millisecond
			}
			time.Sleep(pause)
		}
	}()

	lbl := `table="` + table + `"`
	runs := func(body, result string) float64 {
		v, _ := metricValue(body, "ddbtape_verify_runs_total", `result="`+result+`",`+lbl)
		return v
	}
	scrape := func() string {
		_, body, err := httpGet("http://" + addr + metrics.PathMetrics)
		if err != nil {
			return ""
		}
		return body
	}
	fleetWaitFor(t, 5*time.Minute, "a verification that passes while writes go on, with differences explained by later changes", func() (bool, string) {
		body := scrape()
		expected, _ := metricValue(body, "ddbtape_verify_expected_differences", lbl)
		mism, _ := metricValue(body, "ddbtape_verify_mismatches", lbl)
		if runs(body, "fail") > 0 {
			t.Fatalf("a verification failed while nothing was wrong; verify.json: %+v", readVerifyReport(t, dest, table))
		}
		return runs(body, "pass") >= 1 && expected > 0 && mism == 0,
			fmt.Sprintf("runs: %v pass, %v error; last: %v expected, %v mismatches", runs(body, "pass"), runs(body, "error"), expected, mism)
	})
	body := scrape()
	if last, ok := metricValue(body, "ddbtape_verify_last_success_timestamp_seconds", lbl); !ok || time.Since(time.UnixMilli(int64(last*1000))) > 2*time.Minute {
		t.Errorf("verify_last_success_timestamp_seconds = %v (present %v), want a moment in the last minutes", last, ok)
	}
	if compared, _ := metricValue(body, "ddbtape_verify_items_compared", lbl); compared < 10 {
		t.Errorf("verify_items_compared = %v, want the table's items", compared)
	}
	if rep := readVerifyReport(t, dest, table); rep.Result != verify.Pass || rep.LastPassAt.IsZero() {
		t.Errorf("verify.json after a pass: %+v", rep)
	}

	stopWrites()
	writers.Wait()
	select {
	case err := <-writeErr:
		t.Fatalf("workload: %v", err)
	default:
	}
	lastWrite := time.Now()
	// Once every write is stored, remove the segment holding the last change of the most
	// items: their state in the backup goes back to an older one.
	fleetWaitFor(t, 3*time.Minute, "the window to pass the last write", func() (bool, string) {
		end, _ := metricValue(scrape(), "ddbtape_restorable_window_end_timestamp_seconds", lbl)
		return end > float64(lastWrite.UnixMilli())/1000, fmt.Sprintf("window end %v, last write %s", end, lastWrite)
	})
	removed, keys := removeNewestChanges(t, dest, table)
	t.Logf("removed %s, holding the last change of %d items", removed, len(keys))
	failsBefore := runs(scrape(), "fail")
	fleetWaitFor(t, 4*time.Minute, "a verification that fails", func() (bool, string) {
		body := scrape()
		mism, _ := metricValue(body, "ddbtape_verify_mismatches", lbl)
		return runs(body, "fail") > failsBefore && mism > 0, fmt.Sprintf("runs: %v fail, %v error; mismatches %v", runs(body, "fail"), runs(body, "error"), mism)
	})
	rep := readVerifyReport(t, dest, table)
	if rep.Result != verify.Fail || rep.Mismatches == 0 || len(rep.Examples) == 0 || rep.LastPassAt.IsZero() {
		t.Fatalf("verify.json after the removal: %+v", rep)
	}
	for _, m := range rep.Examples {
		if !keys[m.Key] {
			t.Errorf("mismatch %s %s is not an item whose last change was removed", m.Kind, m.Key)
		}
	}
	st := ddbtape(ctx, t, nil, "status", "--source", dest, "--table", table)
	if st.code != 0 || !strings.Contains(st.stdout, "verification: FAIL") || !strings.Contains(st.stdout, "mismatch: ") {
		t.Errorf("status after the failure (exit %d):\n%s", st.code, st.stdout)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		exited <- err
		if err != nil {
			t.Fatalf("ddbtape run after SIGTERM: %v", err)
		}
	case <-time.After(40 * time.Second):
		t.Fatal("ddbtape run did not exit within its grace after SIGTERM")
	}
}

func readVerifyReport(t *testing.T, dest, table string) verify.Report {
	t.Helper()
	b, err := dir.New(dest)
	if err != nil {
		t.Fatal(err)
	}
	rep, _, err := verify.ReadReport(context.Background(), b, table)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// removeNewestChanges deletes the change segment that holds the last change of the most
// keys, among changes stamped well after the snapshot started (so that the restore
// replays them), and returns it with those keys (merge keys).
func removeNewestChanges(t *testing.T, dest, table string) (string, map[string]bool) {
	t.Helper()
	ctx := context.Background()
	b, err := dir.New(dest)
	if err != nil {
		t.Fatal(err)
	}
	l, err := catalog.New(b, table, nil).List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	type last struct {
		seg   string
		stamp time.Time
		seq   string
	}
	var replayed time.Time
	for _, sn := range l.Snapshots {
		if sn.Manifest != nil && sn.Manifest.StartedAt.After(replayed) {
			replayed = sn.Manifest.StartedAt.Add(catalog.StampMargin)
		}
	}
	lasts := map[string]last{}
	r := replay.NewBucketReader(b, table, t.TempDir())
	for _, seg := range l.Segments {
		err := r.ReadSegment(ctx, seg, func(c *writer.Change) error {
			k, err := replay.MergeKey(c.Keys)
			if err != nil {
				return err
			}
			p, ok := lasts[k]
			seq := shards.SequenceNumber(c.SequenceNumber).Key()
			if !ok || c.ApproximateCreationTime.After(p.stamp) || (c.ApproximateCreationTime.Equal(p.stamp) && seq > p.seq) {
				lasts[k] = last{seg: seg.Key, stamp: c.ApproximateCreationTime, seq: seq}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	bySeg := map[string][]string{}
	for k, p := range lasts {
		if p.stamp.After(replayed) {
			bySeg[p.seg] = append(bySeg[p.seg], k)
		}
	}
	segs := make([]string, 0, len(bySeg))
	for s := range bySeg {
		segs = append(segs, s)
	}
	sort.Slice(segs, func(i, j int) bool { return len(bySeg[segs[i]]) > len(bySeg[segs[j]]) })
	if len(segs) == 0 {
		t.Fatal("no change segment to remove")
	}
	if err := b.Delete(ctx, segs[0]); err != nil {
		t.Fatal(err)
	}
	keys := map[string]bool{}
	for _, k := range bySeg[segs[0]] {
		keys[k] = true
	}
	return storage.URL(b, segs[0]), keys
}
