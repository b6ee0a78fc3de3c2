package catalog_test

// The harness of the window scenarios: a table on the fake Streams server whose clock
// (DynamoDB's, as its answers' Date tells it) the test moves, a model of the table (every
// write with its stamp), real captures into a directory, snapshots of the model, and one
// check that tries to break the promise: at every second from the first snapshot's finish
// to now, a restore either equals the model or is refused, and every second the status
// advertises is accepted.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"slices"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"

	"github.com/ddbtape/ddbtape/catalog"
	"github.com/ddbtape/ddbtape/checkpoint"
	checkpointfile "github.com/ddbtape/ddbtape/checkpoint/file"
	"github.com/ddbtape/ddbtape/compact"
	"github.com/ddbtape/ddbtape/ddbjson"
	"github.com/ddbtape/ddbtape/internal/backuptest"
	"github.com/ddbtape/ddbtape/internal/fakestreams"
	"github.com/ddbtape/ddbtape/replay"
	"github.com/ddbtape/ddbtape/replicator"
	"github.com/ddbtape/ddbtape/shards"
	"github.com/ddbtape/ddbtape/storage"
	"github.com/ddbtape/ddbtape/storage/dir"
	"github.com/ddbtape/ddbtape/writer"
)

// clock is DynamoDB's clock in the fake; only the test moves it.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// write is one change of the model.
type write struct {
	stamp time.Time
	key   string
	val   int
	del   bool
}

type world struct {
	t      *testing.T
	ctx    context.Context
	clock  *clock
	fake   *fakestreams.Server
	table  string
	stream string // the table's current stream ("" without one)
	bucket storage.Bucket
	store  checkpoint.Store
	writes []write
	snaps  int
	// checked counts restores compared with the model, refused the seconds refused.
	checked, refused int
}

var scenarioStart = time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)

// newWorld makes a table; withStream gives it a NEW_AND_OLD_IMAGES stream with one open
// shard "root".
func newWorld(t *testing.T, withStream bool) *world {
	t.Helper()
	c := &clock{now: scenarioStart}
	fake := fakestreams.NewServer(fakestreams.Options{Now: c.Now})
	t.Cleanup(fake.Close)
	d, err := dir.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	w := &world{t: t, ctx: context.Background(), clock: c, fake: fake, table: "orders", bucket: d}
	w.store = checkpointfile.New(d, writer.CheckpointsPrefix(w.table))
	spec := fakestreams.TableSpec{Name: w.table}
	if withStream {
		spec.StreamViewType = "NEW_AND_OLD_IMAGES"
	}
	if w.stream, err = fake.CreateTable(spec); err != nil {
		t.Fatal(err)
	}
	if withStream {
		w.addShard("root", "")
	}
	return w
}

func shardID(name string) string {
	n := 0
	for _, r := range name {
		n = n*31 + int(r)
	}
	return fakestreams.ShardID(n & 0xffffff)
}

func (w *world) addShard(name, parent string) {
	w.t.Helper()
	p := ""
	if parent != "" {
		p = shardID(parent)
	}
	if err := w.fake.AddShard(w.stream, shardID(name), p); err != nil {
		w.t.Fatal(err)
	}
}

func (w *world) split(parent string, children ...string) {
	w.t.Helper()
	ids := make([]string, len(children))
	for i, c := range children {
		ids[i] = shardID(c)
	}
	if err := w.fake.Split(shardID(parent), ids...); err != nil {
		w.t.Fatal(err)
	}
}

// hold makes the fake keep the first answer to GetRecords on shard (by name) until
// release is called (at the latest when the test ends, so the server can close).
func (w *world) hold(shard string) (release func()) {
	gate := make(chan struct{})
	var once sync.Once
	release = func() { once.Do(func() { close(gate) }) }
	w.t.Cleanup(release)
	id := shardID(shard)
	w.fake.OnGetRecords(func(s string) {
		if s == id {
			<-gate
		}
	})
	return release
}

// put writes key=val through shard (by name), or, with shard "", into the table only (it
// has no stream then): the model has it either way.
func (w *world) put(shard, key string, val int) {
	w.t.Helper()
	w.change(shard, write{stamp: w.clock.Now().Truncate(time.Second), key: key, val: val})
}

func (w *world) del(shard, key string) {
	w.t.Helper()
	w.change(shard, write{stamp: w.clock.Now().Truncate(time.Second), key: key, del: true})
}

func (w *world) change(shard string, c write) {
	w.t.Helper()
	w.writes = append(w.writes, c)
	if shard == "" {
		return
	}
	keys := map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: c.key}}
	rec := fakestreams.Record{EventName: "MODIFY", Keys: keys, CreatedAt: w.clock.Now()}
	if c.del {
		rec.EventName = "REMOVE"
	} else {
		rec.NewImage = map[string]types.AttributeValue{"pk": keys["pk"], "v": &types.AttributeValueMemberN{Value: strconv.Itoa(c.val)}}
	}
	if _, err := w.fake.AppendRecords(shardID(shard), rec); err != nil {
		w.t.Fatal(err)
	}
}

// tick advances the clock by n seconds, writing nothing.
func (w *world) tick(n int) { w.clock.advance(time.Duration(n) * time.Second) }

// state is the model's table at t: every write stamped at or before t applied in order.
func (w *world) state(at time.Time) map[string]string {
	out := map[string]string{}
	for _, c := range w.writes {
		if c.stamp.After(at) {
			continue
		}
		if c.del {
			delete(out, c.key)
		} else {
			out[c.key] = backuptest.ItemJSON(c.key, c.val)
		}
	}
	return out
}

// snapshot stores a snapshot of the model as a scan that starts now and takes d.
func (w *world) snapshot(d time.Duration) writer.Manifest {
	w.t.Helper()
	started := w.clock.Now()
	w.clock.advance(d)
	finished := w.clock.Now()
	items := w.state(finished)
	keys := slices.Sorted(maps.Keys(items))
	w.snaps++
	b := &backuptest.Builder{Bucket: w.bucket, Table: w.table, SpoolDir: w.t.TempDir()}
	m, err := b.Snapshot(w.ctx, fmt.Sprintf("snap-%d", w.snaps), started, finished, len(keys), 50, func(i int) writer.SnapshotItem {
		return writer.SnapshotItem{Keys: backuptest.KeyJSON(keys[i]), Item: items[keys[i]]}
	})
	if err != nil {
		w.t.Fatal(err)
	}
	return m
}

// capture is a running capture process.
type capture struct {
	cancel context.CancelFunc
	done   chan error
	c      *replicator.Capture
}

// startCapture runs a capture with fast polls until stop.
func (w *world) startCapture(mutate func(*replicator.Config)) *capture {
	w.t.Helper()
	cfg := replicator.Config{
		Table:            w.table,
		Roll:             writer.RollPolicy{MaxRecords: 3, MaxBytes: 1 << 20, MaxAge: 30 * time.Millisecond},
		RelistInterval:   20 * time.Millisecond,
		CoverageInterval: 10 * time.Millisecond,
		StoreRetryBound:  10 * time.Second,
		Reader:           shards.Reader{PollInterval: 2 * time.Millisecond, MaxIdleInterval: 10 * time.Millisecond, RetryBound: 20 * time.Second},
		SpoolDir:         w.t.TempDir(),
		Logger:           slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	if testing.Verbose() {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	if mutate != nil {
		mutate(&cfg)
	}
	awsCfg := w.fake.Config()
	c, err := replicator.NewCapture(cfg, dynamodb.NewFromConfig(awsCfg), dynamodbstreams.NewFromConfig(awsCfg), w.bucket, w.store)
	if err != nil {
		w.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(w.ctx)
	cp := &capture{cancel: cancel, done: make(chan error, 1), c: c}
	go func() { cp.done <- c.Run(ctx) }()
	w.t.Cleanup(func() { cancel(); <-cp.done })
	return cp
}

func (c *capture) stop(t *testing.T) {
	t.Helper()
	c.cancel()
	if err := <-c.done; err != nil {
		t.Fatalf("capture: %v", err)
	}
	c.done <- nil // for the cleanup
}

// listing is what the destination alone says.
func (w *world) listing() catalog.Listing {
	w.t.Helper()
	l, err := catalog.List(w.ctx, w.bucket, nil, w.table)
	if err != nil {
		w.t.Fatal(err)
	}
	return l
}

// windowEnd is the end of the last restorable window, zero when none.
func (w *world) windowEnd() time.Time {
	end, _ := catalog.WindowEnd(w.listing())
	return end
}

// waitCovered waits (checking the promise meanwhile) until the window reaches at.
func (w *world) waitCovered(at time.Time) {
	w.t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for i := 0; ; i++ {
		if end := w.windowEnd(); !end.Before(at) {
			w.check()
			return
		}
		if time.Now().After(deadline) {
			w.t.Fatalf("the window never reached %s (end %s); status %+v", at, w.windowEnd(), catalog.Summarize(w.listing()))
		}
		if i%5 == 0 {
			w.check() // while capture catches up, too
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitListed waits until capture recorded a listing of the current stream and covered
// every shard of it up to a minute before now.
func (w *world) waitListed() {
	w.t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	want := w.clock.Now().Add(-65 * time.Second)
	for {
		st := catalog.Summarize(w.listing())
		ok := len(st.Shards) > 0
		for _, s := range st.Shards {
			if s.StreamARN == w.stream && s.CoveredUntil.Before(want) {
				ok = false
			}
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			w.t.Fatalf("capture never covered the stream up to %s: %+v", want, st)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// restore rebuilds the table of p into key -> canonical item.
func (w *world) restore(p catalog.Plan) map[string]string {
	w.t.Helper()
	out := map[string]string{}
	r := replay.NewBucketReader(w.bucket, w.table, w.t.TempDir())
	_, err := replay.Apply(w.ctx, p, r, replay.Options{TempDir: w.t.TempDir(), Parallelism: 2}, func(e replay.Entry) error {
		if !e.HasWant {
			return nil
		}
		var k struct {
			PK struct{ S string } `json:"pk"`
		}
		if err := json.Unmarshal([]byte(e.Key), &k); err != nil {
			return err
		}
		out[k.PK.S] = e.Want
		return nil
	})
	if err != nil {
		w.t.Fatalf("restore at %s from %s: %v", p.At, p.Snapshot.ID, err)
	}
	return out
}

// check is the attack on the promise: every second from the first snapshot's finish to
// the present restores equal to the model or is refused with ErrNoCoverage, and every
// window the status advertises is accepted (that NewPlan accepts exactly the windows is
// TestWindows_AreExactlyTheTimesNewPlanAccepts).
//
// Every second is covered by checking the seconds where an answer can change: the
// model's state changes only at a write's stamp, and a restore's result only at a stored
// change's stamp (a write's), at a snapshot's finish (another base) and at a window's
// edge (accepted or refused). So the answer at any second equals the answer at the
// latest such second before it; each is checked, with the second before it.
func (w *world) check() []catalog.Window {
	w.t.Helper()
	l := w.listing()
	ws := catalog.Windows(l)
	var first time.Time
	var edges []time.Time
	for _, s := range catalog.CompleteSnapshots(l.Snapshots) {
		if first.IsZero() || s.Manifest.FinishedAt.Before(first) {
			first = s.Manifest.FinishedAt
		}
		edges = append(edges, s.Manifest.FinishedAt)
	}
	if first.IsZero() {
		return ws
	}
	now := w.clock.Now()
	for _, c := range w.writes {
		edges = append(edges, c.stamp)
	}
	for _, win := range ws {
		edges = append(edges, win.From, win.Until, win.Until.Add(time.Second))
	}
	seconds := map[time.Time]bool{first.Truncate(time.Second): true, now.Truncate(time.Second): true}
	for _, e := range edges {
		for _, t := range []time.Time{e.Truncate(time.Second), e.Truncate(time.Second).Add(-time.Second), e.Truncate(time.Second).Add(time.Second)} {
			if !t.Before(first.Truncate(time.Second)) && !t.After(now) {
				seconds[t] = true
			}
		}
	}
	inWindow := func(t time.Time) bool {
		for _, win := range ws {
			if win.Contains(t) {
				return true
			}
		}
		return false
	}
	for _, t := range slices.SortedFunc(maps.Keys(seconds), func(a, b time.Time) int { return a.Compare(b) }) {
		p, err := catalog.NewPlan(l, t)
		if err != nil {
			if !errors.Is(err, catalog.ErrNoCoverage) {
				w.t.Fatalf("at %s: %v, want ErrNoCoverage or a plan", t, err)
			}
			if inWindow(t) {
				w.t.Fatalf("at %s: refused (%v) inside an advertised window %v", t, err, ws)
			}
			w.refused++
			continue
		}
		got, want := w.restore(p), w.state(t)
		if !sameItems(got, want) {
			w.t.Fatalf("restore at %s (snapshot %s, replay from %s, window %v) differs from the table:\n%s\nstatus: %+v",
				t.Format(time.RFC3339), p.Snapshot.ID, p.ReplayFrom.Format(time.RFC3339), ws, diffItems(got, want), catalog.Summarize(l))
		}
		w.checked++
	}
	return ws
}

// compactAtEnd builds a compaction at the window's end and checks again: restores from
// it must equal the model (as those from the original base did).
func (w *world) compactAtEnd() writer.Manifest {
	w.t.Helper()
	res, err := compact.Run(w.ctx, catalog.New(w.bucket, w.table, nil), compact.Config{SpoolDir: w.t.TempDir()})
	if err != nil {
		w.t.Fatalf("compact: %v", err)
	}
	w.check()
	return res.Manifest
}

func sameItems(got, want map[string]string) bool {
	if len(got) != len(want) {
		return false
	}
	for k, g := range got {
		wv, ok := want[k]
		if !ok {
			return false
		}
		cg, err1 := ddbjson.Canonical(g)
		cw, err2 := ddbjson.Canonical(wv)
		if err1 != nil || err2 != nil || cg != cw {
			return false
		}
	}
	return true
}

func diffItems(got, want map[string]string) string {
	var lines []string
	for k, g := range got {
		if wv, ok := want[k]; !ok {
			lines = append(lines, fmt.Sprintf("  extra %s = %s", k, g))
		} else if !sameItems(map[string]string{k: g}, map[string]string{k: wv}) {
			lines = append(lines, fmt.Sprintf("  %s = %s, want %s", k, g, wv))
		}
	}
	for k, wv := range want {
		if _, ok := got[k]; !ok {
			lines = append(lines, fmt.Sprintf("  missing %s = %s", k, wv))
		}
	}
	sort.Strings(lines)
	if len(lines) > 20 {
		lines = append(lines[:20], fmt.Sprintf("  ... %d more", len(lines)-20))
	}
	out := ""
	for _, l := range lines {
		out += l + "\n"
	}
	return out
}
