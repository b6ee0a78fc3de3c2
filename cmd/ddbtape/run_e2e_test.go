package main

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ddbtape/ddbtape/internal/ddblocal"
	"github.com/ddbtape/ddbtape/internal/workload"
	"github.com/ddbtape/ddbtape/metrics"
	"github.com/ddbtape/ddbtape/writer"
)

// metricValue reads one sample of the Prometheus text exposition: name{labels} value.
// labels are as exposed, sorted by name (result="ok",table="t").
func metricValue(body, name, labels string) (float64, bool) {
	prefix := name + "{" + labels + "} "
	for _, line := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(line, prefix); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return f, err == nil
		}
	}
	return 0, false
}

// snapshotManifests reads the manifests of table's complete snapshots under dest, by id.
func snapshotManifests(t *testing.T, dest, table string) map[string]writer.Manifest {
	t.Helper()
	out := map[string]writer.Manifest{}
	dirs, err := os.ReadDir(filepath.Join(dest, table, "snapshots"))
	if os.IsNotExist(err) {
		return out
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range dirs {
		data, err := os.ReadFile(filepath.Join(dest, table, "snapshots", d.Name(), writer.ManifestName))
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		m, err := writer.DecodeManifest(data)
		if err != nil {
			t.Fatalf("snapshot %s of %s: %v", d.Name(), table, err)
		}
		out[d.Name()] = m
	}
	return out
}

// TestRunEndToEnd_SnapshotsCompactsPrunesAndRestoresEqualTheTables runs `ddbtape run`
// against DynamoDB Local with two tables while writes go on: table A takes a scan
// snapshot every 120 s, compacts every 3 s and keeps 130 s; table B takes one snapshot at
// start and then only compacts. The restorable window trails DynamoDB's clock by a
// minute and a half at most (a stamp margin, and capture's listings every 30 s), so a
// snapshot can be compacted, and an older one let go, only then: A's schedule leaves
// that time. The metrics show the work, /readyz turns ready, old
// snapshots of A are deleted, SIGTERM exits 0 with everything stored, and a restore of
// each table at latest (B's from a compaction) equals a live Scan.
func TestRunEndToEnd_SnapshotsCompactsPrunesAndRestoresEqualTheTables(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	testStart := time.Now()
	inst := ddblocal.Shared(t)
	db := inst.DynamoDB()
	tableA := ddblocal.CreateTable(t, db, ddblocal.TableOptions{NamePrefix: "run-a"})
	tableB := ddblocal.CreateTable(t, db, ddblocal.TableOptions{NamePrefix: "run-b"})
	loads := map[string]*workload.Workload{tableA: workload.New(db, tableA, 31, 40), tableB: workload.New(db, tableB, 32, 40)}
	for _, w := range loads {
		if err := w.Run(ctx, 60); err != nil {
			t.Fatal(err)
		}
	}
	dest := t.TempDir()
	addr := freeAddr(t)
	path := writeConfig(t, fmt.Sprintf(`
app-name: e2e-run
worker-id: w1
region: us-east-1
endpoint-url: %s
destination: %s
spool-dir: %s
poll-interval: 200ms
roll: {records: 100, age: 1s}
snapshot: {at-start-if-missing: true}
compaction: {every: 3s}
tables:
  - name: %s
    snapshot: {every: 120s}
    retention: 130s
  - name: %s
http: {address: %q, ready-checkpoint-age: 30s}
shutdown-grace: 20s
`, inst.Endpoint, dest, filepath.Join(t.TempDir(), "spool"), tableA, tableB, addr))

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
		// DEBUG_RUN_E2E=1 shows the process's log on success too (schedules, skips).
		if t.Failed() || os.Getenv("DEBUG_RUN_E2E") != "" {
			t.Logf("ddbtape run stderr:\n%s", fleetTail(stderr.String(), 400))
		}
	}()

	// Writes go on while the process captures, snapshots, compacts and prunes.
	writeCtx, stopWrites := context.WithCancel(ctx)
	var writers sync.WaitGroup
	writeErr := make(chan error, len(loads))
	for _, w := range loads {
		writers.Add(1)
		go func() {
			defer writers.Done()
			// Bursts with pauses: a shard counts as read up to a time only after a
			// poll finds it empty, so a shard written more often than it is polled
			// never moves the restorable window.
			for i := 1; writeCtx.Err() == nil; i++ {
				if err := w.Step(writeCtx); err != nil && writeCtx.Err() == nil {
					writeErr <- err
					return
				}
				pause := 40 * time.Millisecond
				if i%10 == 0 {
					pause = 800 * time.Millisecond
				}
				time.Sleep(pause)
			}
		}()
	}
	defer stopWrites()

	base := "http://" + addr
	fleetWaitFor(t, 90*time.Second, "/readyz to answer 200", func() (bool, string) {
		code, body, err := httpGet(base + metrics.PathReadyz)
		return err == nil && code == 200, fmt.Sprintf("%d %q %v", code, body, err)
	})
	scrape := func() string {
		_, body, err := httpGet(base + metrics.PathMetrics)
		if err != nil {
			return ""
		}
		return body
	}
	count := func(body, name, table string) float64 {
		v, _ := metricValue(body, name, `result="ok",table="`+table+`"`)
		return v
	}
	// A: the snapshot at start and a scheduled one, a compaction; B: a compaction.
	var firstA string
	fleetWaitFor(t, 4*time.Minute, "scheduled snapshots and compactions of both tables", func() (bool, string) {
		if firstA == "" {
			for id := range snapshotManifests(t, dest, tableA) {
				if firstA == "" || id < firstA {
					firstA = id // ids sort by start: the one taken at start
				}
			}
		}
		body := scrape()
		sa, ca := count(body, "ddbtape_snapshot_duration_seconds_count", tableA), count(body, "ddbtape_compaction_duration_seconds_count", tableA)
		sb, cb := count(body, "ddbtape_snapshot_duration_seconds_count", tableB), count(body, "ddbtape_compaction_duration_seconds_count", tableB)
		return sa >= 2 && ca >= 1 && sb >= 1 && cb >= 1, fmt.Sprintf("A: %v snapshots, %v compactions; B: %v snapshots, %v compactions", sa, ca, sb, cb)
	})
	// Retention of A deletes the first snapshot once a newer one is 130 s old.
	fleetWaitFor(t, 3*time.Minute, "retention to delete A's first snapshot "+firstA, func() (bool, string) {
		_, ok := snapshotManifests(t, dest, tableA)[firstA]
		return !ok, fmt.Sprintf("%d snapshots of A", len(snapshotManifests(t, dest, tableA)))
	})

	body := scrape()
	now := float64(time.Now().UnixMilli()) / 1000
	for _, table := range []string{tableA, tableB} {
		lbl := `table="` + table + `"`
		for _, name := range []string{"ddbtape_records_captured_total", "ddbtape_getrecords_calls_total", "ddbtape_segments_written_total"} {
			if v, ok := metricValue(body, name, lbl); !ok || v <= 0 {
				t.Errorf("%s{%s} = %v (present %v), want > 0", name, lbl, v, ok)
			}
		}
		if v, ok := metricValue(body, "ddbtape_snapshot_duration_seconds_sum", `result="ok",`+lbl); !ok || v <= 0 {
			t.Errorf("snapshot durations of %s sum to %v, want > 0", table, v)
		}
		if _, ok := metricValue(body, "ddbtape_compaction_duration_seconds_sum", `result="ok",`+lbl); !ok {
			t.Errorf("no compaction duration for %s", table)
		}
		for _, name := range []string{"ddbtape_snapshot_last_success_timestamp_seconds", "ddbtape_compaction_last_success_timestamp_seconds"} {
			if v, ok := metricValue(body, name, lbl); !ok || v < float64(testStart.Unix())-1 || v > now+1 {
				t.Errorf("%s{%s} = %v, want a time since the test started (%v) and before %v", name, lbl, v, testStart.Unix(), now)
			}
		}
		from, ok1 := metricValue(body, "ddbtape_restorable_window_start_timestamp_seconds", lbl)
		until, ok2 := metricValue(body, "ddbtape_restorable_window_end_timestamp_seconds", lbl)
		if !ok1 || !ok2 || from > until || until < now-150 || until > now+1 || from < now-600 {
			t.Errorf("restorable window of %s: %v to %v (now %v), want a start in the last minutes and an end a minute or two before now", table, from, until, now)
		}
		if v, ok := metricValue(body, "ddbtape_snapshot_duration_seconds_count", `result="error",`+lbl); ok && v > 0 {
			t.Errorf("%v snapshots of %s failed", v, table)
		}
		if v, ok := metricValue(body, "ddbtape_compaction_duration_seconds_count", `result="error",`+lbl); ok && v > 0 {
			t.Errorf("%v compactions of %s failed", v, table)
		}
	}
	if t.Failed() {
		t.FailNow()
	}

	// Stop writing; wait until both windows reach past the last write and B has a
	// compaction after it, then stop as Kubernetes would.
	stopWrites()
	writers.Wait()
	select {
	case err := <-writeErr:
		t.Fatalf("workload: %v", err)
	default:
	}
	lastWrite := time.Now()
	t.Logf("writes stopped at %s", lastWrite.Format(time.RFC3339Nano))
	fleetWaitFor(t, 3*time.Minute, "windows past the last write and a compaction of B after it", func() (bool, string) {
		body := scrape()
		ua, _ := metricValue(body, "ddbtape_restorable_window_end_timestamp_seconds", `table="`+tableA+`"`)
		ub, _ := metricValue(body, "ddbtape_restorable_window_end_timestamp_seconds", `table="`+tableB+`"`)
		var newestB time.Time
		for _, m := range snapshotManifests(t, dest, tableB) {
			if m.Method == "compaction" && m.FinishedAt.After(newestB) {
				newestB = m.FinishedAt
			}
		}
		lw := float64(lastWrite.UnixMilli())/1000 + 1
		return ua > lw && ub > lw && newestB.After(lastWrite), fmt.Sprintf("window ends %v and %v, newest compaction of B %s, last write %s", ua, ub, newestB, lastWrite)
	})
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
	if !strings.Contains(stderr.String(), "ddbtape run stopped") {
		t.Error("no clean-stop log line")
	}

	for _, table := range []string{tableA, tableB} {
		out := filepath.Join(t.TempDir(), table+".json")
		res := ddbtape(ctx, t, nil, "restore", "--source", dest, "--table", table, "--at", "latest", "--to-file", out)
		if res.code != 0 {
			t.Fatalf("restore %s: exit %d: %s", table, res.code, res.stderr)
		}
		live, err := workload.ScanAll(ctx, db, table)
		if err != nil {
			t.Fatal(err)
		}
		if got := readRestoredFile(t, out); !maps.Equal(got, live) {
			t.Errorf("restore of %s at latest differs from a live Scan: %s", table, diffStates(got, live))
		}
		ms := snapshotManifests(t, dest, table)
		methods := map[string]int{}
		for _, m := range ms {
			methods[m.Method]++
		}
		base := restoredFrom(res.stderr)
		t.Logf("%s: %d writes, %d items; snapshots kept %v; restored from %s (%s)", table, loads[table].Ops(), len(live), methods, base, ms[base].Method)
		if table == tableB && ms[base].Method != "compaction" {
			t.Errorf("restore of %s started from %s (%q), want a compaction", table, base, ms[base].Method)
		}
	}
}

// restoredFrom is the snapshot id a restore's progress line names.
func restoredFrom(stderr string) string {
	_, rest, ok := strings.Cut(stderr, " from snapshot ")
	if !ok {
		return ""
	}
	f := strings.Fields(rest)
	if len(f) == 0 {
		return ""
	}
	return f[0]
}
