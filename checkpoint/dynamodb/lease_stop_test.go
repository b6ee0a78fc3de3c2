package dynamodb

import (
	"context"
	"errors"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/ddbtape/ddbtape/internal/ddblocal"
	"github.com/ddbtape/ddbtape/internal/faultproxy"
)

// These tests pin down a graceful stop: every lease the worker owns is released, including
// one whose take or renewal was in flight, or whose answer was lost. On a busy machine
// DynamoDB answers slowly and a stop lands in the middle of a write.

// noOwners fails the test if any lease of the table is still owned.
func noOwners(t *testing.T, f *fleet, when string) {
	t.Helper()
	for id, owner := range owners(t, f) {
		if owner != "" {
			t.Errorf("%s: shard %s is still owned by %s", when, id, owner)
		}
	}
}

// proxied returns a DynamoDB Local client whose calls go through a fault proxy.
func proxied(t *testing.T) (*ddb.Client, *faultproxy.Proxy) {
	t.Helper()
	inst := ddblocal.Shared(t)
	p := faultproxy.Start(inst.Endpoint)
	t.Cleanup(p.Close)
	return ddb.NewFromConfig(inst.AWSConfig(), func(o *ddb.Options) { o.BaseEndpoint = aws.String(p.URL()) }), p
}

func TestLeases_RunStoppedDuringATakeFinishesItAndKnowsTheOutcome(t *testing.T) {
	f := newFleet(t)
	stopped, inFlight := make(chan struct{}), make(chan struct{}, 1)
	api := hookedAPI{LeaseAPI: f.db, update: func(ctx context.Context, in *ddb.UpdateItemInput, call func(context.Context) (*ddb.UpdateItemOutput, error)) (*ddb.UpdateItemOutput, error) {
		if writeOf(in) != writeTake {
			return call(ctx)
		}
		inFlight <- struct{}{}
		// A slow server: it applies the write but answers only after the worker was told
		// to stop. A caller that stopped waiting never learns that the lease is its own.
		<-stopped
		out, err := call(context.WithoutCancel(ctx))
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return out, err
	}}
	m, err := NewLeases(api, f.store, LeaseConfig{Table: source, WorkerID: "a", Duration: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	track(t, m, shardList(1))
	within(t, inFlight, "the take")
	cancel()
	close(stopped)
	if err := within(t, done, "Run to return"); err != nil {
		t.Fatalf("Run = %v, want nil on cancel", err)
	}
	if got := heldIDs(m); !slices.Equal(got, []string{"shard-00"}) {
		t.Fatalf("after Run returned the worker holds %v, the table says %v: the take in flight was cut off and its outcome lost", got, owners(t, f))
	}
	if err := m.Release(t.Context()); err != nil {
		t.Fatal(err)
	}
	noOwners(t, f, "after Release")
}

func TestLeases_AStoppingWorkerKeepsNoLeaseTakenAfterStopTaking(t *testing.T) {
	f := newFleet(t)
	applied, answer := make(chan struct{}), make(chan struct{})
	var takes atomic.Int32
	api := hookedAPI{LeaseAPI: f.db, update: func(ctx context.Context, in *ddb.UpdateItemInput, call func(context.Context) (*ddb.UpdateItemOutput, error)) (*ddb.UpdateItemOutput, error) {
		if writeOf(in) != writeTake {
			return call(ctx)
		}
		out, err := call(ctx)
		if takes.Add(1) == 1 {
			close(applied)
			<-answer // the answer is slow: StopTaking is called meanwhile
		}
		return out, err
	}}
	a, err := NewLeases(api, f.store, LeaseConfig{Table: source, WorkerID: "a", Duration: duration, Now: newClock().Now})
	if err != nil {
		t.Fatal(err)
	}
	track(t, a, shardList(3))
	beaten := make(chan error, 1)
	go func() { beaten <- a.Heartbeat(t.Context()) }()
	within(t, applied, "the first take")
	a.StopTaking()
	close(answer)
	if err := within(t, beaten, "the heartbeat"); err != nil {
		t.Fatal(err)
	}
	if n := takes.Load(); n != 1 {
		t.Errorf("the heartbeat went on taking after StopTaking: %d takes, want the 1 in flight", n)
	}
	if got := heldIDs(a); len(got) != 0 {
		t.Errorf("a holds %v taken after StopTaking, want none", got)
	}
	noOwners(t, f, "after a take that completed after StopTaking")
}

func TestLeases_ATakeWhoseAnswerWasLostIsHeldAndReleased(t *testing.T) {
	f := newFleet(t)
	db, proxy := proxied(t)
	a, err := NewLeases(db, f.store, LeaseConfig{Table: source, WorkerID: "a", Duration: duration, Now: newClock().Now})
	if err != nil {
		t.Fatal(err)
	}
	track(t, a, shardList(1))
	// The take is applied, then the connection is reset; the SDK retries it and the retry's
	// condition fails on the first attempt's own result.
	proxy.Add(faultproxy.Rule{Op: "UpdateItem", Fault: faultproxy.ConnectionResetAfter, Next: 1})
	beat(t, a)
	if n := proxy.Injected(faultproxy.ConnectionResetAfter.Name); n != 1 {
		t.Fatalf("%d resets injected, want 1", n)
	}
	if got := heldIDs(a); !slices.Equal(got, []string{"shard-00"}) {
		t.Fatalf("a holds %v, the table says %v: a take whose answer was lost must still be held", got, owners(t, f))
	}
	if err := a.Release(t.Context()); err != nil {
		t.Fatal(err)
	}
	noOwners(t, f, "after Release")
}

func TestLeases_ARenewalWhoseAnswerWasLostKeepsTheLease(t *testing.T) {
	f := newFleet(t)
	db, proxy := proxied(t)
	c := newClock()
	a, err := NewLeases(db, f.store, LeaseConfig{Table: source, WorkerID: "a", Duration: duration, Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	track(t, a, shardList(1))
	beat(t, a)
	l := a.Held()[0]
	before := l.Counter()
	c.Advance(duration / 4)
	proxy.Add(faultproxy.Rule{Op: "UpdateItem", Fault: faultproxy.ConnectionResetAfter, Next: 1})
	beat(t, a)
	if n := proxy.Injected(faultproxy.ConnectionResetAfter.Name); n != 1 {
		t.Fatalf("%d resets injected, want 1", n)
	}
	if l.Err() != nil || l.Counter() != before+1 {
		t.Fatalf("after a renewal whose answer was lost: lease err %v, counter %d (was %d); want held and renewed", l.Err(), l.Counter(), before)
	}
	c.Advance(duration / 4)
	beat(t, a)
	if l.Err() != nil || l.Counter() != before+2 {
		t.Fatalf("the next renewal: lease err %v, counter %d; want held at %d", l.Err(), l.Counter(), before+2)
	}
	if err := a.Release(t.Context()); err != nil {
		t.Fatal(err)
	}
	noOwners(t, f, "after Release")
}

func TestLeases_ReleaseAlsoReleasesALeaseTakenByAWriteWhoseOutcomeWasUnknown(t *testing.T) {
	f := newFleet(t)
	errLost := errors.New("every answer lost")
	api := hookedAPI{LeaseAPI: f.db, update: func(ctx context.Context, in *ddb.UpdateItemInput, call func(context.Context) (*ddb.UpdateItemOutput, error)) (*ddb.UpdateItemOutput, error) {
		out, err := call(ctx)
		if writeOf(in) == writeTake {
			return nil, errLost // applied, but the worker cannot know
		}
		return out, err
	}}
	a, err := NewLeases(api, f.store, LeaseConfig{Table: source, WorkerID: "a", Duration: duration, Now: newClock().Now})
	if err != nil {
		t.Fatal(err)
	}
	track(t, a, shardList(2))
	if err := a.Heartbeat(t.Context()); !errors.Is(err, errLost) {
		t.Fatalf("heartbeat = %v, want the take's error", err)
	}
	if len(a.Held()) != 0 {
		t.Fatalf("a holds %v after a failed take", heldIDs(a))
	}
	if err := a.Release(t.Context()); err != nil {
		t.Fatal(err)
	}
	noOwners(t, f, "after Release")
}
