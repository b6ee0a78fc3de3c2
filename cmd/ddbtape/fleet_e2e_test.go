package main

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"

	"github.com/ddbtape/ddbtape/catalog"
	ckdynamo "github.com/ddbtape/ddbtape/checkpoint/dynamodb"
	"github.com/ddbtape/ddbtape/internal/cli"
	"github.com/ddbtape/ddbtape/internal/ddblocal"
	"github.com/ddbtape/ddbtape/internal/fakestreams"
	"github.com/ddbtape/ddbtape/internal/workload"
	"github.com/ddbtape/ddbtape/storage/dir"
	"github.com/ddbtape/ddbtape/writer"
)

// worker is one ddbtape capture process of a fleet.
type fleetWorker struct {
	id     string
	cmd    *exec.Cmd
	stderr *syncBuffer
	exited chan error
}

func startFleetWorker(ctx context.Context, t testing.TB, id string, args ...string) *fleetWorker {
	t.Helper()
	w := &fleetWorker{id: id, stderr: &syncBuffer{}, exited: make(chan error, 1)}
	w.cmd = ddbtapeCommand(ctx, t, nil, append(args, "--worker-id", id)...)
	w.cmd.Stderr = w.stderr
	if err := w.cmd.Start(); err != nil {
		t.Fatalf("start worker %s: %v", id, err)
	}
	go func() { w.exited <- w.cmd.Wait() }()
	t.Cleanup(func() {
		_ = w.cmd.Process.Kill()
		<-w.exited
		if t.Failed() {
			t.Logf("worker %s stderr:\n%s", id, fleetTail(w.stderr.String(), 40))
		}
	})
	return w
}

// stop sends SIGTERM and waits for a clean exit.
func (w *fleetWorker) stop(t testing.TB) {
	t.Helper()
	_ = w.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-w.exited:
		w.exited <- err // for Cleanup
		if err != nil {
			t.Fatalf("worker %s after SIGTERM: %v\n%s", w.id, err, fleetTail(w.stderr.String(), 30))
		}
	case <-time.After(2 * time.Minute):
		t.Fatalf("worker %s did not exit within 2 minutes of SIGTERM", w.id)
	}
}

func fleetTail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// fleetWaitFor polls cond every 200 ms until it holds or the budget is spent.
func fleetWaitFor(t testing.TB, budget time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(budget)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("gave up after %s waiting for %s; last state: %s", budget, what, state)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// readChanges reads every change segment of table under dest; unreadable files (none
// should be: files appear atomically) fail the test.
func fleetChanges(t *testing.T, dest, table string) []writer.Change {
	t.Helper()
	var out []writer.Change
	root := filepath.Join(dest, table, "changes")
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if os.IsNotExist(err) {
			return nil
		}
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".parquet") {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		changes, err := writer.ReadChanges(data)
		if err != nil {
			return fmt.Errorf("read %s: %w", path, err)
		}
		out = append(out, changes...)
		return nil
	})
	if err != nil {
		t.Fatalf("read segments: %v", err)
	}
	return out
}

// fleetLeaseOwners counts the unfinished shards each worker holds ("" for nobody).
func fleetLeaseOwners(t testing.TB, store *ckdynamo.Store, table string) map[string]int {
	t.Helper()
	infos, err := store.ListLeases(t.Context(), table)
	if err != nil {
		t.Fatalf("list leases: %v", err)
	}
	out := map[string]int{}
	for _, in := range infos {
		if !in.Finished {
			out[in.Owner]++
		}
	}
	return out
}

// fleetTopology is the fake stream's shards, built as the test goes: records go to an open
// shard chosen by key, and a key follows its shard's children after a split.
type fleetTopology struct {
	t        *testing.T
	fake     *fakestreams.Server
	stream   string
	next     int
	parent   map[string]string
	children map[string][]string
	want     map[string]bool // "shard/seq" of every record put
}

func (tp *fleetTopology) addRoot() string {
	id := fakestreams.ShardID(tp.next)
	tp.next++
	if err := tp.fake.AddShard(tp.stream, id, ""); err != nil {
		tp.t.Fatal(err)
	}
	return id
}

func (tp *fleetTopology) split(parent string) []string {
	kids := []string{fakestreams.ShardID(tp.next), fakestreams.ShardID(tp.next + 1)}
	tp.next += 2
	if err := tp.fake.Split(parent, kids...); err != nil {
		tp.t.Fatal(err)
	}
	for _, k := range kids {
		tp.parent[k] = parent
	}
	tp.children[parent] = kids
	return kids
}

// put appends n records of distinct keys to shard.
func (tp *fleetTopology) put(shard string, n int) {
	recs := make([]fakestreams.Record, n)
	for i := range recs {
		key := fmt.Sprintf("%s-%d-%d", shard, len(tp.want), i)
		recs[i] = fakestreams.Record{
			Keys:     map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: key}},
			NewImage: map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: key}, "n": &types.AttributeValueMemberN{Value: fmt.Sprint(i)}},
		}
	}
	seqs, err := tp.fake.AppendRecords(shard, recs...)
	if err != nil {
		tp.t.Fatal(err)
	}
	for _, s := range seqs {
		tp.want[shard+"/"+s] = true
	}
}

func TestFleet_ThreeWorkersShareShardsAndSurviveAKill(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	local := ddblocal.Shared(t)
	fake := fakestreams.Start()
	defer fake.Close()
	const table = "fleet-orders"
	streamARN, err := fake.CreateTable(fakestreams.TableSpec{Name: table, StreamViewType: "NEW_AND_OLD_IMAGES"})
	if err != nil {
		t.Fatal(err)
	}
	tp := &fleetTopology{t: t, fake: fake, stream: streamARN, parent: map[string]string{}, children: map[string][]string{}, want: map[string]bool{}}
	var roots []string
	for range 12 {
		roots = append(roots, tp.addRoot())
	}
	for _, r := range roots {
		tp.put(r, 40)
	}

	ckptTable := fmt.Sprintf("fleet-ckpt-%d", time.Now().UnixNano())
	dest := t.TempDir()
	args := []string{"capture", "--table", table, "--dest", dest,
		"--endpoint-url", fake.URL(),
		"--checkpoint", "dynamodb://" + ckptTable, "--create-checkpoint-table", "--checkpoint-endpoint-url", local.Endpoint,
		"--lease-duration", "3s", "--poll-interval", "100ms", "--roll-records", "50", "--roll-age", "500ms"}
	workers := map[string]*fleetWorker{}
	for _, id := range []string{"w1", "w2", "w3"} {
		workers[id] = startFleetWorker(ctx, t, id, args...)
	}
	store, err := ckdynamo.New(local.DynamoDB(), ckptTable, "")
	if err != nil {
		t.Fatal(err)
	}

	// The 12 shards spread over the three workers.
	fleetWaitFor(t, 90*time.Second, "12 shards spread over 3 workers", func() (bool, string) {
		if _, err := store.Load(ctx, table); err != nil {
			return false, err.Error() // the table may not exist yet
		}
		o := fleetLeaseOwners(t, store, table)
		for _, id := range []string{"w1", "w2", "w3"} {
			if o[id] < 3 || o[id] > 5 {
				return false, fmt.Sprint(o)
			}
		}
		return true, ""
	})

	// Half the roots split while the fleet reads; more records go to every open shard.
	for _, r := range roots[:6] {
		tp.split(r)
	}
	for _, s := range fake.ShardIDs(streamARN) {
		if len(tp.children[s]) == 0 && !fleetContains(roots[:6], s) {
			tp.put(s, 30)
		}
	}

	// kill -9 one worker in the middle of it; its shards must be taken over.
	victim := workers["w2"]
	_ = victim.cmd.Process.Signal(syscall.SIGKILL)
	<-victim.exited
	victim.exited <- nil
	killedAt := time.Now()

	// A second generation of splits, and records after the kill.
	for _, c := range tp.children[roots[0]] {
		tp.split(c)
	}
	for _, s := range fake.ShardIDs(streamARN) {
		if len(tp.children[s]) == 0 && !fleetContains(roots[:6], s) {
			tp.put(s, 30)
		}
	}

	fleetWaitFor(t, 2*time.Minute, fmt.Sprintf("all %d records captured", len(tp.want)), func() (bool, string) {
		got := map[string]bool{}
		for _, c := range fleetChanges(t, dest, table) {
			got[c.ShardID+"/"+c.SequenceNumber] = true
		}
		missing := 0
		for id := range tp.want {
			if !got[id] {
				missing++
			}
		}
		return missing == 0, fmt.Sprintf("%d of %d missing; leases %v", missing, len(tp.want), fleetLeaseOwners(t, store, table))
	})
	t.Logf("all records captured %s after the kill", time.Since(killedAt).Round(time.Millisecond))
	if o := fleetLeaseOwners(t, store, table); o["w2"] != 0 {
		t.Fatalf("the killed worker still owns %d shards: %v", o["w2"], o)
	}
	takeovers := strings.Count(workers["w1"].stderr.String()+workers["w3"].stderr.String(), "reason=expired previous_owner=w2")
	if takeovers == 0 {
		t.Fatal("no survivor logged taking over an expired lease of w2")
	}

	workers["w1"].stop(t)
	workers["w3"].stop(t)
	if o := fleetLeaseOwners(t, store, table); len(o) > 1 || (len(o) == 1 && o[""] == 0) {
		t.Fatalf("leases still owned after a graceful stop: %v", o)
	}

	// Exactly once after dedupe by (shard, sequence), nothing extra, and the same record
	// stored twice (a re-read after the kill) only with the same content.
	changes := fleetChanges(t, dest, table)
	byID := map[string]writer.Change{}
	for _, c := range changes {
		id := c.ShardID + "/" + c.SequenceNumber
		if !tp.want[id] {
			t.Fatalf("captured %s, which was never put", id)
		}
		if prev, dup := byID[id]; dup && (prev.Keys != c.Keys || *prev.NewImage != *c.NewImage) {
			t.Fatalf("record %s stored twice with different content", id)
		}
		byID[id] = c
	}
	if len(byID) != len(tp.want) {
		t.Fatalf("%d distinct records captured, want %d", len(byID), len(tp.want))
	}

	// Parent first, across workers: a child's first record was received after its
	// parent's last one, whichever processes read them.
	first, last := map[string]time.Time{}, map[string]time.Time{}
	for _, c := range changes {
		if f, ok := first[c.ShardID]; !ok || c.CapturedAt.Before(f) {
			first[c.ShardID] = c.CapturedAt
		}
		if c.CapturedAt.After(last[c.ShardID]) {
			last[c.ShardID] = c.CapturedAt
		}
	}
	var pairs []string
	for child, parent := range tp.parent {
		if first[child].Before(last[parent]) {
			t.Errorf("child %s was read (from %s) before its parent %s was finished (last record %s)", child, first[child], parent, last[parent])
		}
		pairs = append(pairs, child)
	}
	sort.Strings(pairs)
	t.Logf("%d records on %d shards (%d children checked parent-first), %d rows stored, %d leases of the killed worker taken over", len(tp.want), len(first), len(pairs), len(changes), takeovers)
}

func fleetContains(list []string, s string) bool { return slices.Contains(list, s) }

// TestFleet_ThreeWorkersCaptureTwoTablesAndRestoresEqualTheTables runs three workers,
// each capturing two DynamoDB Local tables (`--table a --table b`) with shared leases,
// while writes go on and a snapshot of each table is taken; a restore of each table at
// latest must then equal a live Scan.
func TestFleet_ThreeWorkersCaptureTwoTablesAndRestoresEqualTheTables(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	inst := ddblocal.Shared(t)
	// The in-process snapshot reads the SDK's configuration from this process's environment.
	for _, kv := range inst.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	db := inst.DynamoDB()
	tables := []string{
		ddblocal.CreateTable(t, db, ddblocal.TableOptions{NamePrefix: "fleet-a"}),
		ddblocal.CreateTable(t, db, ddblocal.TableOptions{NamePrefix: "fleet-b"}),
	}
	loads := []*workload.Workload{workload.New(db, tables[0], 21, 80), workload.New(db, tables[1], 22, 80)}
	for _, w := range loads {
		if err := w.Run(ctx, 150); err != nil {
			t.Fatal(err)
		}
	}
	dest := t.TempDir()
	ckptTable := fmt.Sprintf("fleet-ckpt2-%d", time.Now().UnixNano())
	args := []string{"capture", "--table", tables[0], "--table", tables[1], "--dest", dest, "--endpoint-url", inst.Endpoint,
		"--checkpoint", "dynamodb://" + ckptTable, "--create-checkpoint-table",
		"--lease-duration", "3s", "--poll-interval", "200ms", "--roll-records", "100", "--roll-age", "1s"}
	var workers []*fleetWorker
	for _, id := range []string{"w1", "w2", "w3"} {
		workers = append(workers, startFleetWorker(ctx, t, id, args...))
	}

	// Writes go on in the background while the workers capture and the snapshots run.
	writeCtx, stopWrites := context.WithCancel(ctx)
	writesDone := make(chan error, len(loads))
	for _, w := range loads {
		go func() {
			for writeCtx.Err() == nil {
				if err := w.Step(writeCtx); err != nil && writeCtx.Err() == nil {
					writesDone <- err
					return
				}
				time.Sleep(20 * time.Millisecond)
			}
			writesDone <- nil
		}()
	}
	time.Sleep(2 * time.Second)
	for _, table := range tables {
		// In process: main.go does not list the snapshot command yet.
		var out bytes.Buffer
		e := &cli.Env{Stdout: &out, Stderr: &out, Getenv: os.Getenv}
		if err := runSnapshot(ctx, e, []string{"--table", table, "--dest", dest, "--endpoint-url", inst.Endpoint}); err != nil {
			t.Fatalf("snapshot %s: %v\n%s", table, err, out.String())
		}
	}
	time.Sleep(2 * time.Second)
	stopWrites()
	for range loads {
		if err := <-writesDone; err != nil {
			t.Fatalf("workload: %v", err)
		}
	}

	// Every record of both streams reaches the segments; then a graceful stop.
	for _, table := range tables {
		stream := drainStream(ctx, t, inst.Streams(), ddblocal.StreamARN(t, db, table))
		fleetWaitFor(t, 2*time.Minute, "every record of "+table+" captured", func() (bool, string) {
			got := map[string]bool{}
			for _, c := range fleetChanges(t, dest, table) {
				got[c.ShardID+"/"+c.SequenceNumber] = true
			}
			missing := 0
			for _, r := range stream {
				if !got[r.shard+"/"+r.seq] {
					missing++
				}
			}
			return missing == 0, fmt.Sprintf("%d of %d missing", missing, len(stream))
		})
	}
	// The window trails DynamoDB's clock by a minute (its stamps are to the minute):
	// wait until it reaches past the last write before stopping.
	lastWrite := time.Now()
	destBucket, err := dir.New(dest)
	if err != nil {
		t.Fatal(err)
	}
	for _, table := range tables {
		fleetWaitFor(t, 3*time.Minute, "the window of "+table+" past the last write", func() (bool, string) {
			l, err := catalog.List(ctx, destBucket, nil, table)
			if err != nil {
				return false, err.Error()
			}
			end, ok := catalog.WindowEnd(l)
			return ok && end.After(lastWrite), fmt.Sprintf("window end %s (%v), last write %s", end, ok, lastWrite)
		})
	}
	for _, w := range workers {
		w.stop(t)
	}

	ckpt, err := ckdynamo.New(db, ckptTable, "")
	if err != nil {
		t.Fatal(err)
	}
	readers := map[string]bool{}
	for _, table := range tables {
		for _, in := range mustList(t, ckpt, table) {
			if in.Owner != "" {
				t.Errorf("%s shard %s still leased by %s after a graceful stop", table, in.ShardID, in.Owner)
			}
		}
		// restore and status read the checkpoints straight from the lease table.
		out := filepath.Join(t.TempDir(), table+".json")
		res := ddbtape(ctx, t, nil, "restore", "--source", dest, "--table", table, "--checkpoint", "dynamodb://"+ckptTable, "--at", "latest", "--to-file", out)
		if res.code != 0 {
			t.Fatalf("restore %s: exit %d: %s", table, res.code, res.stderr)
		}
		st := ddbtape(ctx, t, nil, "status", "--source", dest, "--table", table, "--checkpoint", "dynamodb://"+ckptTable)
		if st.code != 0 || !strings.Contains(st.stdout, "lease") {
			t.Errorf("status with dynamodb:// checkpoints: exit %d, no lease listing:\n%s%s", st.code, st.stdout, st.stderr)
		}
		live, err := workload.ScanAll(ctx, db, table)
		if err != nil {
			t.Fatal(err)
		}
		if got := readRestoredFile(t, out); !maps.Equal(got, live) {
			t.Errorf("restore of %s at latest differs from a live Scan: %s", table, diffStates(got, live))
		}
		t.Logf("%s: %d writes, %d items, restore equals the live Scan", table, loads[slices.Index(tables, table)].Ops(), len(live))
	}
	for _, w := range workers {
		for _, line := range strings.Split(w.stderr.String(), "\n") {
			if strings.Contains(line, "lease taken") {
				readers[w.id] = true
			}
		}
	}
	// Each DynamoDB Local stream has a single shard and leases balance per table, so one
	// worker may fairly hold both; the spread across workers is asserted on the
	// many-shard fake stream (TestFleet_ThreeWorkersShareShardsAndSurviveAKill), not here.
	t.Logf("workers that took leases: %v", readers)
}

func mustList(t *testing.T, store *ckdynamo.Store, table string) []ckdynamo.LeaseInfo {
	t.Helper()
	infos, err := store.ListLeases(t.Context(), table)
	if err != nil {
		t.Fatal(err)
	}
	return infos
}
