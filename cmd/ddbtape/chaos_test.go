package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ddbtape/ddbtape/internal/ddblocal"
	"github.com/ddbtape/ddbtape/internal/faultproxy"
	"github.com/ddbtape/ddbtape/internal/workload"
	"github.com/ddbtape/ddbtape/writer"
)

// chaosSettings reads the knobs of the chaos test: DDBTAPE_CHAOS_KILLS (how many times
// capture is killed, default 20; scripts/soak.sh raises it) and DDBTAPE_CHAOS_SEED (fault
// and kill timing; default: the clock, logged so a failure can be rerun alike).
func chaosSettings(t *testing.T) (kills int, seed uint64) {
	t.Helper()
	kills = 20
	if v := os.Getenv("DDBTAPE_CHAOS_KILLS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 2 {
			t.Fatalf("DDBTAPE_CHAOS_KILLS=%q: want a whole number of at least 2", v)
		}
		kills = n
	}
	seed = uint64(time.Now().UnixNano())
	if v := os.Getenv("DDBTAPE_CHAOS_SEED"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("DDBTAPE_CHAOS_SEED=%q: want a whole number", v)
		}
		seed = n
	}
	return kills, seed
}

// chaosOps are the calls capture, snapshot, restore and verify make many times, which may
// fail in every way the network and the service fail. CreateTable is left alone: a lost
// answer to it is another question (does restore --create survive a table it made itself?).
var chaosOps = []string{"DescribeStream", "GetShardIterator", "GetRecords", "Scan", "BatchWriteItem"}

// addChaosFaults injects, at modest rates per call: throttling with the service's real
// bodies, 500 and 503, connection resets before and after the call took effect, truncated
// answers, delays, and expired iterators on GetRecords. About one call in six fails.
//
// DescribeTable, made once when a command starts, gets only faults the SDK retries, and
// rarely: capture's (shards.StreamOf) retries every transient failure, but snapshot,
// restore and verify rely on the SDK's retries there, so a truncated answer stops them with
// exit 1 before they read anything. That is safe (nothing is read or written) but not what
// this test is about.
func addChaosFaults(p *faultproxy.Proxy) {
	faults := []struct {
		f    faultproxy.Fault
		rate float64
	}{
		{faultproxy.ProvisionedThroughputExceeded, 0.02},
		{faultproxy.Throttling, 0.02},
		{faultproxy.LimitExceeded, 0.01},
		{faultproxy.InternalServerError, 0.02},
		{faultproxy.ServiceUnavailable, 0.02},
		{faultproxy.ConnectionReset, 0.015},
		{faultproxy.ConnectionResetAfter, 0.015},
		{faultproxy.TruncatedResponse, 0.015},
		{faultproxy.Delayed(700 * time.Millisecond), 0.02},
	}
	p.Add(faultproxy.Rule{Op: "GetRecords", Fault: faultproxy.ExpiredIterator, Rate: 0.03})
	for _, op := range chaosOps {
		for _, f := range faults {
			p.Add(faultproxy.Rule{Op: op, Fault: f.f, Rate: f.rate})
		}
	}
	for _, f := range []faultproxy.Fault{faultproxy.ProvisionedThroughputExceeded, faultproxy.ServiceUnavailable, faultproxy.Delayed(700 * time.Millisecond)} {
		p.Add(faultproxy.Rule{Op: "DescribeTable", Fault: f, Rate: 0.01})
	}
}

// TestChaos_CaptureKilledBehindFaultyNetworkLosesNothing runs the real binary against
// DynamoDB Local behind the fault proxy while a workload writes: capture is killed with
// SIGKILL at random moments and restarted (20 times, DDBTAPE_CHAOS_KILLS for more), a
// snapshot is taken through the proxy meanwhile, then the backup is restored through the
// proxy into a file and into a new table. After every kill no stored object has changed
// content and no checkpoint passes an unstored record; at the end the segments hold every
// stream record, both restores equal the workload's model, and verify passes.
func TestChaos_CaptureKilledBehindFaultyNetworkLosesNothing(t *testing.T) {
	t.Parallel()
	kills, seed := chaosSettings(t)
	t.Logf("%d kills, DDBTAPE_CHAOS_SEED=%d", kills, seed)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute+time.Duration(kills)*5*time.Second)
	defer cancel()
	local := ddblocal.Shared(t)
	db := local.DynamoDB()
	table := ddblocal.CreateTable(t, db, ddblocal.TableOptions{NamePrefix: "chaos"})
	dest, spool := t.TempDir(), t.TempDir()
	proxy := faultproxy.Start(local.Endpoint)
	defer proxy.Close()
	proxy.Seed(seed)
	addChaosFaults(proxy)

	// Writes go straight to DynamoDB Local, so the model is exact; they stop between two
	// steps, never by cancelling one in flight.
	w := workload.New(db, table, seed, 150)
	var stopWriting atomic.Bool
	writesDone := make(chan error, 1)
	go func() {
		for !stopWriting.Load() {
			if err := w.Step(ctx); err != nil {
				writesDone <- err
				return
			}
			time.Sleep(15 * time.Millisecond)
		}
		writesDone <- nil
	}()
	defer func() {
		if !stopWriting.Swap(true) {
			<-writesDone
		}
	}()

	captureArgs := []string{"capture", "--table", table, "--dest", dest, "--endpoint-url", proxy.URL(), "--spool-dir", spool,
		"--roll-records", "30", "--roll-age", "400ms", "--poll-interval", "100ms"}
	ckptPath := filepath.Join(dest, filepath.FromSlash(writer.CheckpointsPrefix(table)), table+".json")
	audit := newStoreAudit(dest)
	var samples []storeSample
	rng := rand.New(rand.NewPCG(seed, 2))
	snapshotDone := make(chan result, 1)
	for i := 1; i <= kills; i++ {
		if i == kills/2 {
			// A snapshot through the faulty network while capture dies and restarts.
			go func() {
				snapshotDone <- ddbtape(ctx, t, nil, "snapshot", "--table", table, "--dest", dest, "--endpoint-url", proxy.URL(), "--segments", "3", "--page-size", "5")
			}()
		}
		cmd := ddbtapeCommand(ctx, t, nil, captureArgs...)
		var out syncBuffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(300+rng.IntN(3700)) * time.Millisecond)
		_ = cmd.Process.Signal(syscall.SIGKILL)
		err := cmd.Wait()
		if ee, ok := err.(interface{ ExitCode() int }); !ok || ee.ExitCode() != -1 {
			t.Fatalf("kill %d: capture ended by itself before it was killed (%v):\n%s", i, err, out.String())
		}
		when := fmt.Sprintf("after kill %d", i)
		samples = append(samples, sampleStore(t, when, ckptPath, dest, table))
		audit.check(t, when)
	}
	segmentsBeforeFinal := len(samples[len(samples)-1].segments)
	if res := <-snapshotDone; res.code != 0 {
		t.Fatalf("snapshot through the fault proxy: exit %d:\n%s", res.code, res.stderr)
	}
	stopWriting.Store(true)
	if err := <-writesDone; err != nil {
		t.Fatalf("workload: %v", err)
	}

	// A last capture, still through the faults, catches up and exits on its own.
	res := ddbtape(ctx, t, nil, append(captureArgs, "--until-idle", "3s")...)
	if res.code != 0 {
		t.Fatalf("final capture: exit %d:\n%s", res.code, res.stderr)
	}
	samples = append(samples, sampleStore(t, "after the final capture", ckptPath, dest, table))
	audit.check(t, "after the final capture")
	if segmentsBeforeFinal == 0 {
		t.Fatalf("no segment was stored in %d killed runs: the kills tested nothing", kills)
	}

	stream := drainStream(ctx, t, local.Streams(), ddblocal.StreamARN(t, db, table))
	if len(stream) != w.Ops() {
		t.Fatalf("stream holds %d records, the workload wrote %d", len(stream), w.Ops())
	}
	stored, files := segmentRecords(t, dest, table)
	compareRecords(t, stream, stored, true)
	checkCheckpointsNeverPassedStorage(t, samples, stream, segmentsByKey(t, dest, table))
	model := w.Snapshot()

	// Restore into a file (no network), then into a new table and verify through the faults.
	file := filepath.Join(t.TempDir(), "restored.json")
	res = ddbtape(ctx, t, nil, "restore", "--source", dest, "--table", table, "--at", "latest", "--to-file", file)
	if res.code != 0 {
		t.Fatalf("restore --to-file: exit %d:\n%s", res.code, res.stderr)
	}
	if got := readRestoredFile(t, file); !sameStates(got, model) {
		t.Errorf("restore --to-file differs from the model: %s", diffStates(got, model))
	}
	restored := table + "-restored"
	res = ddbtape(ctx, t, nil, "restore", "--source", dest, "--table", table, "--at", "latest", "--to-table", restored, "--create", "--endpoint-url", proxy.URL())
	if res.code != 0 {
		t.Fatalf("restore --to-table --create through the fault proxy: exit %d:\n%s", res.code, res.stderr)
	}
	got, err := workload.ScanAll(ctx, db, restored)
	if err != nil {
		t.Fatal(err)
	}
	if !sameStates(got, model) {
		t.Errorf("restored table differs from the model: %s", diffStates(got, model))
	}
	res = ddbtape(ctx, t, nil, "verify", "--source", dest, "--table", table, "--endpoint-url", proxy.URL())
	if res.code != 0 {
		t.Errorf("verify through the fault proxy: exit %d:\n%s%s", res.code, res.stdout, res.stderr)
	}
	audit.check(t, "after the restores")

	counts := proxy.Counts()
	names := make([]string, 0, len(counts))
	var injected int64
	for name, n := range counts {
		names = append(names, fmt.Sprintf("%s=%d", name, n))
		injected += n
	}
	sort.Strings(names)
	if injected == 0 {
		t.Fatalf("the proxy injected no fault")
	}
	var calls []string
	for _, op := range append([]string{"DescribeTable"}, chaosOps...) {
		calls = append(calls, fmt.Sprintf("%s=%d", op, proxy.Seen(op)))
	}
	spools, _ := os.ReadDir(spool)
	t.Logf("%d writes, %d items at the end, %d stream records in %d segments (%d rows), %d kills; calls through the proxy: %s; faults injected: %s; left behind by the kills: %d temporary files in the destination, %d spool directories",
		w.Ops(), len(model), len(stream), files, len(stored), kills, strings.Join(calls, " "), strings.Join(names, " "), countTempObjects(t, dest), len(spools))
}

func sameStates(got, want map[string]string) bool {
	if len(got) != len(want) {
		return false
	}
	for k, v := range want {
		if got[k] != v {
			return false
		}
	}
	return true
}

// countTempObjects counts the temporary files a killed writer left in a destination.
func countTempObjects(t *testing.T, dest string) int {
	t.Helper()
	n := 0
	_ = filepath.WalkDir(dest, func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && tempObject.MatchString(d.Name()) {
			n++
		}
		return nil
	})
	return n
}
