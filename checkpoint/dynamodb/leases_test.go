package dynamodb

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/ddbtape/ddbtape/checkpoint"
	"github.com/ddbtape/ddbtape/internal/ddblocal"
	"github.com/ddbtape/ddbtape/shards"
)

const (
	source    = "orders"
	streamARN = "arn:aws:dynamodb:us-east-1:123456789012:table/orders/stream/2026-11-21T00:00:00.000"
	duration  = 10 * time.Second
)

// clock is a test clock shared by the workers of one test (or one per worker).
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// fleet is the workers of one test, sharing a fresh checkpoint table.
type fleet struct {
	t     *testing.T
	db    *ddb.Client
	store *Store
}

func newFleet(t *testing.T) *fleet {
	t.Helper()
	db := ddblocal.Shared(t).DynamoDB()
	name := fmt.Sprintf("leases-%d-%d", time.Now().UnixNano()%1e9, tableSeq.Add(1))
	store, err := New(db, name, "test")
	if err != nil {
		t.Fatal(err)
	}
	if err := store.EnsureTable(t.Context(), true, time.Minute); err != nil {
		t.Fatal(err)
	}
	return &fleet{t: t, db: db, store: store}
}

func (f *fleet) worker(id string, c *clock, maxSteals int) *Leases {
	f.t.Helper()
	m, err := NewLeases(f.db, f.store, LeaseConfig{Table: source, WorkerID: id, Duration: duration, Interval: duration / 4, MaxSteals: maxSteals, Now: c.Now})
	if err != nil {
		f.t.Fatal(err)
	}
	return m
}

func shardList(n int) []shards.Shard {
	var out []shards.Shard
	for i := range n {
		out = append(out, shards.Shard{ID: fmt.Sprintf("shard-%02d", i), StartingSequence: fmt.Sprint(1000 + i)})
	}
	return out
}

func beat(t *testing.T, ms ...*Leases) {
	t.Helper()
	for _, m := range ms {
		if err := m.Heartbeat(t.Context()); err != nil {
			t.Fatalf("heartbeat of %s: %v", m.cfg.WorkerID, err)
		}
	}
}

func track(t *testing.T, m *Leases, list []shards.Shard) {
	t.Helper()
	if err := m.Track(t.Context(), streamARN, list); err != nil {
		t.Fatal(err)
	}
}

func heldIDs(m *Leases) []string {
	var out []string
	for _, l := range m.Held() {
		out = append(out, l.ShardID())
	}
	sort.Strings(out)
	return out
}

func owners(t *testing.T, f *fleet) map[string]string {
	t.Helper()
	infos, err := f.store.ListLeases(t.Context(), source)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, in := range infos {
		out[in.ShardID] = in.Owner
	}
	return out
}

func TestLeases_TakesFreeLeasesAndRenewsThem(t *testing.T) {
	f := newFleet(t)
	c := newClock()
	a := f.worker("a", c, 1)
	track(t, a, shardList(3))
	beat(t, a)
	if got := heldIDs(a); len(got) != 3 {
		t.Fatalf("a lone worker holds %v, want all 3 shards", got)
	}
	for id, owner := range owners(t, f) {
		if owner != "a" {
			t.Errorf("shard %s owned by %q in the table, want a", id, owner)
		}
	}
	l := a.Held()[0]
	before := l.Counter()
	c.Advance(duration / 4)
	beat(t, a)
	if l.Counter() != before+1 || l.Err() != nil {
		t.Fatalf("after a heartbeat the counter is %d (was %d), lease err %v: want renewed", l.Counter(), before, l.Err())
	}
}

func TestLeases_ADeadWorkersLeaseIsTakenOnlyAfterItExpires(t *testing.T) {
	f := newFleet(t)
	ca, cb := newClock(), newClock()
	a, b := f.worker("a", ca, 1), f.worker("b", cb, 1)
	track(t, a, shardList(1))
	track(t, b, shardList(1))
	beat(t, a, b)
	if len(a.Held()) != 1 || len(b.Held()) != 0 {
		t.Fatalf("a holds %v, b %v; want a to hold the one shard", heldIDs(a), heldIDs(b))
	}
	// While a renews, b never takes the lease, however much time passes.
	for range 6 {
		ca.Advance(duration / 4)
		cb.Advance(duration / 4)
		beat(t, a, b)
	}
	if len(b.Held()) != 0 {
		t.Fatal("b took a lease that a kept renewing")
	}
	// a dies: it beats no more. Just short of the duration b still waits.
	cb.Advance(duration - time.Second)
	beat(t, b)
	if len(b.Held()) != 0 {
		t.Fatal("b took a lease before it expired")
	}
	cb.Advance(time.Second)
	beat(t, b)
	if got := heldIDs(b); len(got) != 1 {
		t.Fatalf("b holds %v after a's lease expired, want it", got)
	}
	if owners(t, f)["shard-00"] != "b" {
		t.Fatalf("table owner is %q, want b", owners(t, f)["shard-00"])
	}
}

func TestLeases_LosingALeaseCancelsItsContextAndRefusesSaves(t *testing.T) {
	f := newFleet(t)
	ca, cb := newClock(), newClock()
	a, b := f.worker("a", ca, 1), f.worker("b", cb, 1)
	track(t, a, shardList(1))
	beat(t, a)
	la := a.Held()[0]
	ctx, cancel := la.Bind(t.Context())
	defer cancel()
	if err := la.Store().Save(t.Context(), source, checkpoint.Position{StreamARN: streamARN, ShardID: "shard-00", SequenceNumber: "100"}); err != nil {
		t.Fatalf("holder's save: %v", err)
	}

	// a stalls (a long GC pause, a partition): b takes the lease after it expires.
	track(t, b, shardList(1))
	beat(t, b)
	cb.Advance(duration)
	beat(t, b)
	lb := b.Held()
	if len(lb) != 1 {
		t.Fatal("b did not take the expired lease")
	}
	if pos, ok := lb[0].Position(); !ok || pos.SequenceNumber != "100" {
		t.Fatalf("b's lease starts at %+v (%v), want a's checkpoint 100", pos, ok)
	}

	// a's reader wakes up before a's heartbeat noticed: its save must not land.
	err := la.Store().Save(t.Context(), source, checkpoint.Position{StreamARN: streamARN, ShardID: "shard-00", SequenceNumber: "200"})
	if !errors.Is(err, ErrLeaseLost) || !errors.Is(err, checkpoint.ErrBackwards) {
		t.Fatalf("stale holder's save = %v, want ErrLeaseLost, which is also checkpoint.ErrBackwards (no retry helps)", err)
	}
	within(t, ctx.Done(), "the lost lease's context to be cancelled")
	if cause := context.Cause(ctx); !errors.Is(cause, ErrLeaseLost) {
		t.Fatalf("context cause = %v, want ErrLeaseLost", cause)
	}
	if len(a.Held()) != 0 {
		t.Fatalf("a still lists %v as held", heldIDs(a))
	}
	got, err := f.store.Load(t.Context(), source)
	if err != nil {
		t.Fatal(err)
	}
	if p := got.Shards["shard-00"]; p.SequenceNumber != "100" {
		t.Fatalf("checkpoint = %q after the stale save, want 100", p.SequenceNumber)
	}
	if err := lb[0].Store().Save(t.Context(), source, checkpoint.Position{StreamARN: streamARN, ShardID: "shard-00", SequenceNumber: "150"}); err != nil {
		t.Fatalf("new holder's save: %v", err)
	}
}

func TestLeases_RenewalNoticesALostLease(t *testing.T) {
	f := newFleet(t)
	ca, cb := newClock(), newClock()
	a, b := f.worker("a", ca, 1), f.worker("b", cb, 1)
	track(t, a, shardList(1))
	track(t, b, shardList(1))
	beat(t, a, b)
	la := a.Held()[0]
	cb.Advance(duration)
	beat(t, b) // a did not beat for b's duration: expired
	if len(b.Held()) != 1 {
		t.Fatal("b did not take the expired lease")
	}
	beat(t, a) // a's renewal finds b's counter
	select {
	case <-la.Done():
	default:
		t.Fatal("a's renewal did not end the lease b took")
	}
	if !errors.Is(la.Err(), ErrLeaseLost) {
		t.Fatalf("lease err = %v, want ErrLeaseLost", la.Err())
	}
	if len(a.Held()) != 0 {
		t.Fatal("a still holds a lease after losing its only one")
	}
}

func TestLeases_WorkersBalanceByStealingAFewPerBeat(t *testing.T) {
	f := newFleet(t)
	c := newClock()
	a := f.worker("a", c, 1)
	track(t, a, shardList(10))
	beat(t, a)
	if len(a.Held()) != 10 {
		t.Fatalf("a holds %d, want all 10", len(a.Held()))
	}
	b, d := f.worker("b", c, 1), f.worker("c", c, 1)
	track(t, b, shardList(10))
	track(t, d, shardList(10))
	beat(t, b)
	if n := len(b.Held()); n != 1 {
		t.Fatalf("b took %d leases in its first beat, want 1 (MaxSteals)", n)
	}
	for range 8 {
		c.Advance(duration / 4)
		beat(t, a, b, d)
	}
	counts := []int{len(a.Held()), len(b.Held()), len(d.Held())}
	sort.Ints(counts)
	if counts[0]+counts[1]+counts[2] != 10 || counts[2]-counts[0] > 1 {
		t.Fatalf("leases per worker = %v, want 10 spread within one", counts)
	}
	// The table agrees with what each worker believes it holds: no shard has two readers.
	tbl := owners(t, f)
	for _, m := range []*Leases{a, b, d} {
		for _, id := range heldIDs(m) {
			if tbl[id] != m.cfg.WorkerID {
				t.Errorf("%s believes it holds %s, the table says %q", m.cfg.WorkerID, id, tbl[id])
			}
		}
	}
}

func TestLeases_AChildIsTakenOnlyAfterItsParentFinished(t *testing.T) {
	f := newFleet(t)
	ca, cb := newClock(), newClock()
	a, b := f.worker("a", ca, 1), f.worker("b", cb, 1)
	parent := shards.Shard{ID: "parent", StartingSequence: "100"}
	list := []shards.Shard{parent}
	track(t, a, list)
	beat(t, a)
	lp := a.Held()[0]

	// The parent splits; b learns of the children and beats: they are not workable yet.
	list = append(list, shards.Shard{ID: "child-1", ParentID: "parent", StartingSequence: "200"}, shards.Shard{ID: "child-2", ParentID: "parent", StartingSequence: "201"})
	track(t, b, list)
	beat(t, b)
	if len(b.Held()) != 0 {
		t.Fatalf("b took %v while the parent is unfinished", heldIDs(b))
	}
	// a finishes the parent through its lease: the lease ends with it.
	if err := lp.Store().Save(t.Context(), source, checkpoint.Position{StreamARN: streamARN, ShardID: "parent", SequenceNumber: "150", Finished: true}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-lp.Done():
	default:
		t.Fatal("finishing the shard did not end its lease")
	}
	beat(t, b)
	if got := heldIDs(b); len(got) != 2 {
		t.Fatalf("b holds %v after the parent finished, want both children (a holds none)", got)
	}
	if owners(t, f)["parent"] != "" {
		t.Fatal("the finished parent is still owned")
	}
}

func TestLeases_ReleasedLeasesAreTakenAtOnce(t *testing.T) {
	f := newFleet(t)
	c := newClock()
	a, b := f.worker("a", c, 1), f.worker("b", c, 1)
	track(t, a, shardList(4))
	beat(t, a)
	first := a.Held()[0]
	saved := first.ShardID()
	if err := first.Store().Save(t.Context(), source, checkpoint.Position{StreamARN: streamARN, ShardID: saved, SequenceNumber: "77"}); err != nil {
		t.Fatal(err)
	}
	var leases []*Lease
	leases = append(leases, a.Held()...)
	if err := a.Release(t.Context()); err != nil {
		t.Fatal(err)
	}
	for _, l := range leases {
		if !errors.Is(l.Err(), ErrLeaseReleased) {
			t.Errorf("lease %s err = %v, want ErrLeaseReleased", l.ShardID(), l.Err())
		}
	}
	track(t, b, shardList(4))
	beat(t, b) // no clock advance: released leases are not waited for
	if got := heldIDs(b); len(got) != 4 {
		t.Fatalf("b holds %v right after a released, want all 4", got)
	}
	for _, l := range b.Held() {
		if l.ShardID() == saved {
			if pos, ok := l.Position(); !ok || pos.SequenceNumber != "77" {
				t.Errorf("b's lease of %s starts at %+v, want the released checkpoint 77", saved, pos)
			}
		}
	}
}

func TestLeases_ConcurrentTakersGetEachLeaseOnce(t *testing.T) {
	f := newFleet(t)
	c := newClock()
	var ms []*Leases
	for i := range 4 {
		m := f.worker(fmt.Sprintf("w%d", i), c, 1)
		track(t, m, shardList(8))
		ms = append(ms, m)
	}
	for range 2 {
		var wg sync.WaitGroup
		for _, m := range ms {
			wg.Go(func() {
				if err := m.Heartbeat(t.Context()); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
	}
	// A worker learns that a lease was stolen from it at its next renewal; until then
	// only the table's owner can save. Renew once more, without taking, and compare.
	for _, m := range ms {
		m.StopTaking()
	}
	beat(t, ms...)
	tbl := owners(t, f)
	seen := map[string]string{}
	for _, m := range ms {
		for _, id := range heldIDs(m) {
			if other, dup := seen[id]; dup {
				t.Errorf("shard %s held by both %s and %s", id, other, m.cfg.WorkerID)
			}
			seen[id] = m.cfg.WorkerID
			if tbl[id] != m.cfg.WorkerID {
				t.Errorf("%s believes it holds %s, the table says %q", m.cfg.WorkerID, id, tbl[id])
			}
		}
	}
	if len(seen) != 8 {
		t.Fatalf("%d of 8 shards held after concurrent beats", len(seen))
	}
}

func TestLeases_StopTakingOnlyRenews(t *testing.T) {
	f := newFleet(t)
	c := newClock()
	a := f.worker("a", c, 1)
	track(t, a, shardList(2))
	a.StopTaking()
	beat(t, a)
	if len(a.Held()) != 0 {
		t.Fatalf("a took %v after StopTaking", heldIDs(a))
	}
}

func TestLeases_RunTakesRightAfterTrack(t *testing.T) {
	f := newFleet(t)
	m, err := NewLeases(f.db, f.store, LeaseConfig{Table: source, WorkerID: "a", Duration: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	track(t, m, shardList(2))
	deadline := time.After(30 * time.Second)
	for len(m.Held()) < 2 {
		select {
		case <-m.Changed():
		case <-deadline:
			t.Fatalf("Run took %v of the 2 tracked leases (the heartbeat is 15 minutes: Track must kick it)", heldIDs(m))
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run = %v, want nil on cancel", err)
	}
	if len(m.Held()) != 2 {
		t.Fatalf("holds %v, want both", heldIDs(m))
	}
}

func TestNewLeases_RefusesAHeartbeatTooSlowForTheDuration(t *testing.T) {
	f := newFleet(t)
	if _, err := NewLeases(f.db, f.store, LeaseConfig{Table: source, WorkerID: "a", Duration: time.Second, Interval: 600 * time.Millisecond}); err == nil {
		t.Fatal("NewLeases accepted a heartbeat slower than half the lease duration")
	}
}

func TestLeases_ReportsShardsWithoutALiveOwnerAtEachHeartbeat(t *testing.T) {
	f := newFleet(t)
	ca, cb := newClock(), newClock()
	a := f.worker("a", ca, 1)
	var mu sync.Mutex
	var seen []int
	b, err := NewLeases(f.db, f.store, LeaseConfig{Table: source, WorkerID: "b", Duration: duration, Interval: duration / 4, Now: cb.Now,
		Unowned: func(n int) { mu.Lock(); seen = append(seen, n); mu.Unlock() }})
	if err != nil {
		t.Fatal(err)
	}
	track(t, a, shardList(2))
	track(t, b, shardList(2))
	beat(t, a, b) // a takes both, b sees them owned and steals one to balance
	// a dies; once its lease expires by b's clock, b's next heartbeat reports it, then
	// takes it, and the one after reports none.
	cb.Advance(duration / 2)
	beat(t, b)
	cb.Advance(duration)
	beat(t, b)
	beat(t, b)
	mu.Lock()
	defer mu.Unlock()
	if want := []int{0, 0, 1, 0}; !slices.Equal(seen, want) || len(b.Held()) != 2 {
		t.Errorf("unowned counts reported %v, want %v; b holds %v, want both", seen, want, heldIDs(b))
	}
}

// A worker joining a table whose lease rows exist already (a restarted fleet): its first
// heartbeat, before it listed the stream, sees the rows; the listing must still make it
// beat at once rather than a heartbeat interval later.
func TestLeases_RunTakesRightAfterTheFirstTrackWhenTheRowsExist(t *testing.T) {
	f := newFleet(t)
	track(t, f.worker("earlier", newClock(), 1), shardList(2))
	m, err := NewLeases(f.db, f.store, LeaseConfig{Table: source, WorkerID: "a", Duration: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	for end := time.Now().Add(time.Minute); !m.isTracked("shard-00") || !m.isTracked("shard-01"); time.Sleep(time.Millisecond) {
		if time.Now().After(end) {
			t.Fatal("Run's first heartbeat did not see the rows within a minute")
		}
	}
	track(t, m, shardList(2))
	deadline := time.After(time.Minute)
	for len(m.Held()) < 2 {
		select {
		case <-m.Changed():
		case <-deadline:
			t.Fatalf("Run took %v of the 2 listed leases within a minute (the heartbeat is 15 minutes: Track must kick it)", heldIDs(m))
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run = %v, want nil on cancel", err)
	}
}

func (m *Leases) isTracked(id string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.tracked[id]
}
