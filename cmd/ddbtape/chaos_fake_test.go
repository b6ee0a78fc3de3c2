package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"

	"github.com/ddbtape/ddbtape/ddbjson"
	"github.com/ddbtape/ddbtape/internal/backuptest"
	"github.com/ddbtape/ddbtape/internal/fakestreams"
	"github.com/ddbtape/ddbtape/internal/workload"
	"github.com/ddbtape/ddbtape/shards"
	"github.com/ddbtape/ddbtape/storage/dir"
	"github.com/ddbtape/ddbtape/writer"
)

// chaosClock is DynamoDB's clock in the fake: it runs 100 times faster than the real one
// (the window trails it by a minute, which then takes 0.6 s) and jumps when told.
type chaosClock struct {
	mu    sync.Mutex
	start time.Time
	base  time.Time
	jump  time.Duration
}

func newChaosClock() *chaosClock {
	return &chaosClock{start: time.Now(), base: time.Date(2026, 6, 1, 8, 0, 0, 0, time.UTC)}
}

func (c *chaosClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.base.Add(c.jump + 100*time.Since(c.start))
}

func (c *chaosClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.jump += d
}

// chaosFake is a table on the fake Streams server with a model of its items.
type chaosFake struct {
	t      *testing.T
	clock  *chaosClock
	fake   *fakestreams.Server
	stream string
	table  string
	next   int
	mu     sync.Mutex
	state  map[string]int // key -> value; absent: deleted
	open   []string       // the shards that take writes
}

func newChaosFake(t *testing.T) *chaosFake {
	t.Helper()
	c := newChaosClock()
	fake := fakestreams.NewServer(fakestreams.Options{Now: c.Now})
	t.Cleanup(fake.Close)
	f := &chaosFake{t: t, clock: c, fake: fake, table: "chaos-orders", state: map[string]int{}}
	var err error
	// A sort key, as the workload's tables have, so restored files read back alike.
	if f.stream, err = fake.CreateTable(fakestreams.TableSpec{Name: f.table, SortKey: "sk", StreamViewType: "NEW_AND_OLD_IMAGES"}); err != nil {
		t.Fatal(err)
	}
	f.addShard("")
	return f
}

func (f *chaosFake) addShard(parent string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.next++
	id := fakestreams.ShardID(f.next)
	if err := f.fake.AddShard(f.stream, id, parent); err != nil {
		f.t.Fatal(err)
	}
	f.open = append(f.open, id)
	return id
}

// write puts or deletes one of 30 keys through the stream (Put routes a key to the open
// shard of its lineage) and records it in the model.
func (f *chaosFake) write(rng *rand.Rand) {
	f.mu.Lock()
	defer f.mu.Unlock()
	k := fmt.Sprintf("k%02d", rng.IntN(30))
	keys := map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: k}, "sk": &types.AttributeValueMemberS{Value: "s"}}
	rec := fakestreams.Record{EventName: "MODIFY", Keys: keys}
	if _, ok := f.state[k]; ok && rng.IntN(5) == 0 {
		rec.EventName = "REMOVE"
		delete(f.state, k)
	} else {
		v := rng.IntN(1_000_000)
		rec.NewImage = map[string]types.AttributeValue{"pk": keys["pk"], "sk": keys["sk"], "v": &types.AttributeValueMemberN{Value: strconv.Itoa(v)}}
		f.state[k] = v
	}
	if _, err := f.fake.Put(f.stream, rec); err != nil {
		f.t.Error(err)
	}
}

// splitOne splits one open shard into two.
func (f *chaosFake) splitOne(rng *rand.Rand) {
	f.mu.Lock()
	defer f.mu.Unlock()
	i := rng.IntN(len(f.open))
	parent := f.open[i]
	f.next += 2
	a, b := fakestreams.ShardID(f.next-1), fakestreams.ShardID(f.next)
	if err := f.fake.Split(parent, a, b); err != nil {
		f.t.Fatal(err)
	}
	f.open = append(append(f.open[:i:i], f.open[i+1:]...), a, b)
}

// model is the table now, as restore --to-file writes it (canonical key -> item).
func (f *chaosFake) model() map[string]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]string{}
	for k, v := range f.state {
		item, err := ddbjson.ToDynamoDB(chaosItem(k, v))
		if err != nil {
			f.t.Fatal(err)
		}
		out[workload.KeyOf(item)] = workload.MustCanonical(item)
	}
	return out
}

// records are every record the stream holds, for the store checks.
func (f *chaosFake) records() []streamRecord {
	var out []streamRecord
	for _, id := range f.fake.ShardIDs(f.stream) {
		for _, seq := range f.fake.Records(id) {
			out = append(out, streamRecord{shard: id, seq: seq})
		}
	}
	return out
}

// snapshot writes a snapshot of the model as a scan that started and ended now (the fake
// cannot Scan), with the table quiet meanwhile.
func (f *chaosFake) snapshot(dest, id string) {
	f.t.Helper()
	b, err := dir.New(dest)
	if err != nil {
		f.t.Fatal(err)
	}
	f.mu.Lock()
	keys := make([]string, 0, len(f.state))
	for k := range f.state {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	vals := map[string]int{}
	for k, v := range f.state {
		vals[k] = v
	}
	f.mu.Unlock()
	now := f.clock.Now()
	bld := &backuptest.Builder{Bucket: b, Table: f.table, SpoolDir: f.t.TempDir()}
	if _, err := bld.Snapshot(context.Background(), id, now, now, len(keys), 20, func(i int) writer.SnapshotItem {
		return writer.SnapshotItem{Keys: fmt.Sprintf(`{"pk":{"S":%q},"sk":{"S":"s"}}`, keys[i]), Item: chaosItem(keys[i], vals[keys[i]])}
	}); err != nil {
		f.t.Fatal(err)
	}
}

// TestChaos_SplitsWhileCaptureIsKilledAndARestartPastTheRetention runs the real binary
// against the fake Streams server, where shards split: capture is killed with SIGKILL at
// random moments while writes go on and shards split; after every kill no stored object
// changed and no checkpoint passed a record that is not stored; then a final capture
// catches up, every stream record is in the segments, and restore --at latest equals the
// model. A second round leaves capture down for 25 hours on a quiet shard in which a
// record was written and expired: the gap is recorded and said, restores across it refuse,
// and a snapshot after it restores exactly again.
func TestChaos_SplitsWhileCaptureIsKilledAndARestartPastTheRetention(t *testing.T) {
	t.Parallel()
	kills, seed := chaosSettings(t)
	kills = max(kills/2, 4)
	t.Logf("%d kills, DDBTAPE_CHAOS_SEED=%d", kills, seed)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute+time.Duration(kills)*5*time.Second)
	defer cancel()
	f := newChaosFake(t)
	dest, spool := t.TempDir(), t.TempDir()
	f.snapshot(dest, "snap-start")
	rng := rand.New(rand.NewPCG(seed, 3))

	captureArgs := []string{"capture", "--table", f.table, "--dest", dest, "--endpoint-url", f.fake.URL(), "--spool-dir", spool,
		"--roll-records", "20", "--roll-age", "300ms", "--poll-interval", "50ms"}
	ckptPath := filepath.Join(dest, filepath.FromSlash(writer.CheckpointsPrefix(f.table)), f.table+".json")
	audit := newStoreAudit(dest)
	var samples []storeSample
	for i := 1; i <= kills; i++ {
		cmd := ddbtapeCommand(ctx, t, nil, captureArgs...)
		var out syncBuffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		for range 5 + rng.IntN(20) {
			f.write(rng)
			time.Sleep(time.Duration(5+rng.IntN(40)) * time.Millisecond)
			if rng.IntN(12) == 0 {
				f.splitOne(rng)
			}
		}
		_ = cmd.Process.Signal(syscall.SIGKILL)
		err := cmd.Wait()
		if ee, ok := err.(interface{ ExitCode() int }); !ok || ee.ExitCode() != -1 {
			t.Fatalf("kill %d: capture ended by itself before it was killed (%v):\n%s", i, err, out.String())
		}
		when := fmt.Sprintf("after kill %d", i)
		samples = append(samples, sampleStore(t, when, ckptPath, dest, f.table))
		audit.check(t, when)
	}
	f.splitOne(rng) // the final capture meets a split it has not seen either
	f.write(rng)
	res := ddbtape(ctx, t, nil, append(captureArgs, "--until-idle", "1s")...)
	if res.code != 0 {
		t.Fatalf("final capture: exit %d:\n%s", res.code, res.stderr)
	}
	samples = append(samples, sampleStore(t, "after the final capture", ckptPath, dest, f.table))
	audit.check(t, "after the final capture")
	stream := f.records()
	stored, _ := segmentRecords(t, dest, f.table)
	compareSeqs(t, stream, stored)
	checkCheckpointsNeverPassedStorage(t, samples, stream, segmentsByKey(t, dest, f.table))
	restoreLatestEquals(ctx, t, dest, f.table, f.model())

	// Round two: capture is down for 25 hours; a quiet shard gets a record that expires.
	quiet := f.addShard("")
	if res := ddbtape(ctx, t, nil, append(captureArgs, "--until-idle", "1s")...); res.code != 0 {
		t.Fatalf("capture with the quiet shard: exit %d:\n%s", res.code, res.stderr)
	}
	beforeDowntime := f.model()
	f.clock.advance(2 * time.Hour)
	lostKey := map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: "lost"}, "sk": &types.AttributeValueMemberS{Value: "s"}}
	seqs, err := f.fake.AppendRecords(quiet, fakestreams.Record{EventName: "INSERT", Keys: lostKey,
		NewImage: map[string]types.AttributeValue{"pk": lostKey["pk"], "sk": lostKey["sk"], "v": &types.AttributeValueMemberN{Value: "1"}}})
	if err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	f.state["lost"] = 1 // in the table, never in a backup
	f.mu.Unlock()
	if err := f.fake.Trim(quiet, seqs[0]); err != nil {
		t.Fatal(err)
	}
	f.clock.advance(23 * time.Hour)
	res = ddbtape(ctx, t, nil, append(captureArgs, "--until-idle", "1s")...)
	if res.code != 0 || !strings.Contains(res.stderr, "gap in the backup") || !strings.Contains(res.stderr, "continuity") {
		t.Fatalf("capture after 25 hours down: exit %d, want 0 and the gap said:\n%s", res.code, res.stderr)
	}
	if st := ddbtape(ctx, t, nil, "status", "--source", dest, "--table", f.table); !strings.Contains(st.stdout, "(continuity)") {
		t.Errorf("status does not list the continuity gap:\n%s", st.stdout)
	}
	// latest is the end of the window before the gap, where the table was as before the
	// downtime; a time after the gap is refused, naming it.
	restoreLatestEquals(ctx, t, dest, f.table, beforeDowntime)
	out := filepath.Join(t.TempDir(), "across.json")
	after := f.clock.Now().Add(-2 * time.Minute).Format(time.RFC3339)
	res = ddbtape(ctx, t, nil, "restore", "--source", dest, "--table", f.table, "--at", after, "--to-file", out)
	// Every shard that had stored nothing yet (the quiet one, and leaves no write reached)
	// has such a gap; the line names one.
	if res.code != 1 || !strings.Contains(res.stderr, "gap in shard ") || !strings.Contains(res.stderr, "may have expired unread") {
		t.Fatalf("restore at %s, across the downtime: exit %d, stderr %q; want 1 naming a continuity gap", after, res.code, res.stderr)
	}
	f.snapshot(dest, "snap-after")
	f.write(rng)
	if res := ddbtape(ctx, t, nil, append(captureArgs, "--until-idle", "1s")...); res.code != 0 {
		t.Fatalf("capture after the snapshot: exit %d:\n%s", res.code, res.stderr)
	}
	restoreLatestEquals(ctx, t, dest, f.table, f.model())
	t.Logf("%d stream records in %d shards, %d kills", len(stream), len(f.fake.ShardIDs(f.stream)), kills)
}

// compareSeqs checks that every stream record is in a segment, once or more, and that
// no segment holds a record the stream does not.
func compareSeqs(t *testing.T, stream, stored []streamRecord) {
	t.Helper()
	want := map[string]bool{}
	for _, r := range stream {
		want[r.shard+"/"+shards.SequenceNumber(r.seq).Key()] = true
	}
	got := map[string]bool{}
	for _, r := range stored {
		id := r.shard + "/" + shards.SequenceNumber(r.seq).Key()
		if !want[id] {
			t.Errorf("segments hold %s, which the stream does not", id)
		}
		got[id] = true
	}
	for id := range want {
		if !got[id] {
			t.Errorf("stream record %s is in no segment", id)
		}
	}
}

func restoreLatestEquals(ctx context.Context, t *testing.T, dest, table string, want map[string]string) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "latest.json")
	res := ddbtape(ctx, t, nil, "restore", "--source", dest, "--table", table, "--at", "latest", "--to-file", out)
	if res.code != 0 {
		t.Fatalf("restore --at latest: exit %d: %s", res.code, res.stderr)
	}
	if got := readRestoredFile(t, out); !sameStates(got, want) {
		t.Fatalf("restore --at latest differs from the model: %s", diffStates(got, want))
	}
}

// chaosItem is an item of the chaos table, DynamoDB JSON.
func chaosItem(k string, v int) string {
	return fmt.Sprintf(`{"pk":{"S":%q},"sk":{"S":"s"},"v":{"N":"%d"}}`, k, v)
}
