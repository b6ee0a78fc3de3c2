package dynamodb

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"golang.org/x/sync/errgroup"

	"github.com/ddbtape/ddbtape/shards"
)

// Defaults of LeaseConfig.
const (
	DefaultLeaseDuration = 20 * time.Second
	DefaultMaxSteals     = 1
)

// LeaseAPI is the part of the DynamoDB client the manager writes with (it reads through the
// checkpoint store).
type LeaseAPI interface {
	UpdateItem(ctx context.Context, in *ddb.UpdateItemInput, optFns ...func(*ddb.Options)) (*ddb.UpdateItemOutput, error)
}

// LeaseConfig is one worker's lease settings for one table.
type LeaseConfig struct {
	// Table is the captured table whose shards are leased.
	Table string
	// WorkerID names this worker in the lease table; unique per process (default in the
	// CLI: hostname and pid).
	WorkerID string
	// Duration is how long a lease lives without renewal before others may take it
	// (default DefaultLeaseDuration). It bounds how long a dead worker's shards wait.
	Duration time.Duration
	// Interval is the heartbeat (default Duration/4); at most Duration/2.
	Interval time.Duration
	// MaxSteals bounds the leases taken from other live workers per heartbeat (default 1).
	MaxSteals int
	// Now is the clock (default time.Now); tests inject one.
	Now func() time.Time
	// Unowned, when set, hears after each heartbeat's scan how many of the current
	// stream's shards that could be read now have no live owner (free or expired), before
	// this worker takes any: a count that stays above zero means shards nobody reads.
	Unowned func(n int)
	Logger  *slog.Logger
}

// Leases holds one worker's leases on one table's shards. Create it with NewLeases, run its
// heartbeat with Run (or call Heartbeat), tell it the shards with Track, and Release on
// shutdown. Safe for concurrent use.
type Leases struct {
	api   LeaseAPI
	store *Store
	cfg   LeaseConfig
	log   *slog.Logger

	mu      sync.Mutex
	stream  string              // current stream ARN, from Track; nothing is taken before
	listed  map[string]bool     // the shards of the latest listing given to Track; replaced, never changed
	tracked map[string]bool     // shards known to have a lease item
	seen    map[string]observed // last owner and counter seen per shard, and since when
	held    map[string]*Lease
	noTake  bool
	kick    chan struct{} // Track found new shards: heartbeat now
	changed chan struct{} // leases were taken: start readers
}

// observed is what a scan showed of one lease, and when (this worker's clock) that was
// first seen: a lease is expired when it stays the same for the lease duration.
type observed struct {
	owner   string
	counter int64
	since   time.Time
}

// NewLeases returns a manager for cfg.Table's shards, keeping leases in store's table and
// namespace.
func NewLeases(api LeaseAPI, store *Store, cfg LeaseConfig) (*Leases, error) {
	if cfg.Table == "" {
		return nil, errors.New("lease manager: no table")
	}
	if cfg.WorkerID == "" {
		return nil, errors.New("lease manager: no worker id")
	}
	if cfg.Duration <= 0 {
		cfg.Duration = DefaultLeaseDuration
	}
	if cfg.Interval <= 0 {
		cfg.Interval = cfg.Duration / 4
	}
	if cfg.Interval > cfg.Duration/2 {
		return nil, fmt.Errorf("lease heartbeat %s is too slow for lease duration %s: renew at least twice per duration", cfg.Interval, cfg.Duration)
	}
	if cfg.MaxSteals <= 0 {
		cfg.MaxSteals = DefaultMaxSteals
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Leases{
		api: api, store: store, cfg: cfg,
		log:     cfg.Logger.With("table", cfg.Table, "worker_id", cfg.WorkerID),
		tracked: map[string]bool{}, seen: map[string]observed{}, held: map[string]*Lease{},
		kick: make(chan struct{}, 1), changed: make(chan struct{}, 1),
	}, nil
}

// Interval is the heartbeat.
func (m *Leases) Interval() time.Duration { return m.cfg.Interval }

// Run beats until ctx is cancelled, then returns nil: once at once, then every Interval,
// and right after Track found new shards. A failed heartbeat is logged and retried on
// the next beat; a lease that could not be renewed for its duration ends (ErrLeaseLost).
// A beat in progress when ctx is cancelled finishes first (see beat).
func (m *Leases) Run(ctx context.Context) error {
	t := time.NewTicker(m.cfg.Interval)
	defer t.Stop()
	for {
		if err := m.beat(ctx); err != nil {
			m.log.Warn("lease heartbeat failed; will retry", "err", err)
		}
		if ctx.Err() != nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-m.kick:
		}
	}
}

// beat runs one Heartbeat whose writes are not cancelled with ctx. DynamoDB may apply a
// write whose caller stopped waiting for the answer; a lease taken or renewed that way
// would stay owned by this worker, unknown to it, after it released what it knew it held,
// and others would wait a lease duration for it. Once ctx is cancelled the beat gets the
// lease duration to finish (a renewal later than that is of no use), so a hung call cannot
// hold a shutdown forever.
func (m *Leases) beat(ctx context.Context) error {
	bctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	stop := context.AfterFunc(ctx, func() { time.AfterFunc(m.cfg.Duration, cancel) })
	defer stop()
	return m.Heartbeat(bctx)
}

// Changed receives a value after a heartbeat took leases, so the caller can start their
// readers without waiting.
func (m *Leases) Changed() <-chan struct{} { return m.changed }

// StopTaking makes heartbeats only renew from now on: for shutdown, while readers store
// what they read. A heartbeat in progress takes no further lease, and a take already in
// flight gives its lease back as soon as it completes, so a stopping worker keeps no
// lease it took after this call.
func (m *Leases) StopTaking() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.noTake = true
}

func (m *Leases) stopping() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.noTake
}

// Held returns the leases held now.
func (m *Leases) Held() []*Lease {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]*Lease, 0, len(m.held))
	for _, l := range m.held {
		out = append(out, l)
	}
	return out
}

func (m *Leases) drop(l *Lease) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.held[l.shardID] == l {
		delete(m.held, l.shardID)
	}
}

// Track makes sure every listed shard of streamARN has a lease item, parents' items
// before their children's, and makes streamARN the stream whose leases are taken (items
// of an older stream are left alone). list is the stream's whole listing: a child's
// lease is taken without its parent's item only when the listing lacks the parent.
func (m *Leases) Track(ctx context.Context, streamARN string, list []shards.Shard) error {
	lineage := shards.BuildLineage(list)
	ordered := lineage.Shards()
	slices.SortStableFunc(ordered, func(a, b shards.Shard) int { return lineage.Depth(a.ID) - lineage.Depth(b.ID) })
	listed := make(map[string]bool, len(ordered))
	for _, s := range ordered {
		listed[s.ID] = true
	}
	m.mu.Lock()
	// A new listing can make leases takeable even when every row exists already (a
	// heartbeat before the first Track marks the rows it saw as tracked): beat at once.
	relisted := m.stream != streamARN || !maps.Equal(m.listed, listed)
	m.stream, m.listed = streamARN, listed
	var todo []shards.Shard
	for _, s := range ordered {
		if !m.tracked[s.ID] {
			todo = append(todo, s)
		}
	}
	m.mu.Unlock()
	for _, s := range todo {
		if err := m.track(ctx, streamARN, s); err != nil {
			return err
		}
		m.mu.Lock()
		m.tracked[s.ID] = true
		m.mu.Unlock()
	}
	if relisted || len(todo) > 0 {
		select {
		case m.kick <- struct{}{}:
		default:
		}
	}
	return nil
}

// track writes what a lease item needs without touching anything already there (a
// checkpoint saved before leases were used, or another worker's lease).
func (m *Leases) track(ctx context.Context, streamARN string, s shards.Shard) error {
	values := map[string]types.AttributeValue{
		":kind": &types.AttributeValueMemberS{Value: "shard"},
		":id":   &types.AttributeValueMemberS{Value: s.ID},
		":arn":  &types.AttributeValueMemberS{Value: streamARN},
		":zero": &types.AttributeValueMemberN{Value: "0"},
	}
	names := map[string]string{"#kind": "kind", "#id": attrShardID, "#arn": attrStreamARN, "#c": attrLeaseCounter}
	expr := "SET #kind = if_not_exists(#kind, :kind), #id = if_not_exists(#id, :id), #arn = if_not_exists(#arn, :arn), #c = if_not_exists(#c, :zero)"
	if s.ParentID != "" {
		names["#p"], values[":p"] = attrParentShardID, &types.AttributeValueMemberS{Value: s.ParentID}
		expr += ", #p = if_not_exists(#p, :p)"
	}
	if s.StartingSequence != "" {
		names["#start"], values[":start"] = attrStartingSequence, &types.AttributeValueMemberS{Value: s.StartingSequence}
		expr += ", #start = :start"
	}
	_, err := m.api.UpdateItem(ctx, &ddb.UpdateItemInput{
		TableName:                 aws.String(m.store.TableName()),
		Key:                       shardKey(m.store.App(), m.cfg.Table, s.ID),
		UpdateExpression:          aws.String(expr),
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: values,
	})
	if err != nil {
		return fmt.Errorf("create lease of %s shard %s: %w", m.cfg.Table, s.ID, err)
	}
	return nil
}

// Heartbeat is one beat: renew every held lease, read every lease of the table, then
// take leases that are free or expired and steal a few to balance the fleet.
func (m *Leases) Heartbeat(ctx context.Context) error {
	m.renewAll(ctx)
	infos, err := m.store.ListLeases(ctx, m.cfg.Table)
	if err != nil {
		return err
	}
	now := m.cfg.Now()
	m.mu.Lock()
	for _, in := range infos {
		o, ok := m.seen[in.ShardID]
		if !ok || o.owner != in.Owner || o.counter != in.Counter {
			m.seen[in.ShardID] = observed{owner: in.Owner, counter: in.Counter, since: now}
		}
		m.tracked[in.ShardID] = true
	}
	stream, listed, noTake := m.stream, m.listed, m.noTake
	seen := make(map[string]observed, len(m.seen))
	for id, o := range m.seen {
		seen[id] = o
	}
	heldNow := make(map[string]bool, len(m.held))
	for id := range m.held {
		heldNow[id] = true
	}
	m.mu.Unlock()
	if noTake || stream == "" {
		return nil
	}
	current := infos[:0:0]
	for _, in := range infos {
		if in.StreamARN == stream {
			current = append(current, in)
		}
	}
	expired := func(in LeaseInfo) bool {
		o := seen[in.ShardID]
		return in.Owner != "" && now.Sub(o.since) >= m.cfg.Duration
	}
	if m.cfg.Unowned != nil {
		m.cfg.Unowned(unowned(current, func(in LeaseInfo) bool { return !heldNow[in.ShardID] && expired(in) }))
	}
	take, steal := plan(m.cfg.WorkerID, current, func(id string) bool { return heldNow[id] }, func(id string) bool { return listed[id] }, expired, m.cfg.MaxSteals)
	took := 0
	for _, in := range append(take, steal...) {
		if m.stopping() {
			break
		}
		why := "free"
		switch {
		case in.Owner != "" && expired(in):
			why = "expired"
		case in.Owner != "":
			why = "balance"
		}
		ok, err := m.take(ctx, in, why)
		if err != nil {
			return err
		}
		if ok {
			took++
		}
	}
	if took > 0 {
		select {
		case m.changed <- struct{}{}:
		default:
		}
	}
	return nil
}

// renewAll renews the held leases, several at once so one slow write does not starve
// the others of their renewal.
func (m *Leases) renewAll(ctx context.Context) {
	var g errgroup.Group
	g.SetLimit(8)
	for _, l := range m.Held() {
		g.Go(func() error { m.renew(ctx, l); return nil })
	}
	_ = g.Wait()
}

func (m *Leases) renew(ctx context.Context, l *Lease) {
	l.op.Lock()
	defer l.op.Unlock()
	h, err := l.holder()
	if err != nil {
		return
	}
	now := m.cfg.Now()
	_, err = m.api.UpdateItem(ctx, &ddb.UpdateItemInput{
		TableName:           aws.String(m.store.TableName()),
		Key:                 shardKey(m.store.App(), m.cfg.Table, l.shardID),
		ConditionExpression: aws.String("#o = :me AND #c = :held"),
		UpdateExpression:    aws.String("SET #c = :next, #r = :r, #e = :e"),
		ExpressionAttributeNames: map[string]string{
			"#o": attrLeaseOwner, "#c": attrLeaseCounter,
			"#r": attrLeaseRenewedAt, "#e": attrLeaseExpiresAt,
		},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":me":   &types.AttributeValueMemberS{Value: h.Owner},
			":held": num(h.Counter),
			":next": num(h.Counter + 1),
			":r":    stamp(now),
			":e":    stamp(now.Add(m.cfg.Duration)),
		},
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	var failed *types.ConditionalCheckFailedException
	switch {
	case err == nil:
		l.renewed(h.Counter+1, now)
	case errors.As(err, &failed):
		if _, ours := m.ownWrite(ctx, failed, l.shardID, h.Counter+1, now); ours {
			m.log.Debug("lease renewal was applied though its answer was lost", "shard", l.shardID)
			l.renewed(h.Counter+1, now)
			return
		}
		m.log.Warn("lease lost: another worker took the shard; stopping its reader", "shard", l.shardID, "counter", h.Counter)
		l.end(ErrLeaseLost)
	default:
		l.mu.Lock()
		since := l.renewedAt
		l.mu.Unlock()
		if now.Sub(since) >= m.cfg.Duration {
			// Others may already have taken it; the reader stops rather than work for
			// nothing (its saves would be refused anyway).
			m.log.Warn("lease lost: not renewed for a lease duration; stopping the shard's reader", "shard", l.shardID, "err", err)
			l.end(ErrLeaseLost)
			return
		}
		m.log.Warn("lease renewal failed; will retry", "shard", l.shardID, "err", err)
	}
}

// take takes in's lease if it still has the owner and counter the scan saw. It reports
// false when another worker changed it first.
func (m *Leases) take(ctx context.Context, in LeaseInfo, why string) (bool, error) {
	now := m.cfg.Now()
	names := map[string]string{
		"#o": attrLeaseOwner, "#c": attrLeaseCounter, "#f": attrFinished,
		"#r": attrLeaseRenewedAt, "#e": attrLeaseExpiresAt,
	}
	values := map[string]types.AttributeValue{
		":me":    &types.AttributeValueMemberS{Value: m.cfg.WorkerID},
		":seen":  num(in.Counter),
		":next":  num(in.Counter + 1),
		":false": &types.AttributeValueMemberBOOL{Value: false},
		":r":     stamp(now),
		":e":     stamp(now.Add(m.cfg.Duration)),
	}
	cond := "(attribute_not_exists(#f) OR #f = :false) AND "
	if in.Owner == "" {
		cond += "attribute_not_exists(#o)"
	} else {
		cond += "#o = :prev"
		values[":prev"] = &types.AttributeValueMemberS{Value: in.Owner}
	}
	if in.Counter == 0 {
		cond += " AND (attribute_not_exists(#c) OR #c = :seen)"
	} else {
		cond += " AND #c = :seen"
	}
	out, err := m.api.UpdateItem(ctx, &ddb.UpdateItemInput{
		TableName:                           aws.String(m.store.TableName()),
		Key:                                 shardKey(m.store.App(), m.cfg.Table, in.ShardID),
		ConditionExpression:                 aws.String(cond),
		UpdateExpression:                    aws.String("SET #o = :me, #c = :next, #r = :r, #e = :e"),
		ExpressionAttributeNames:            names,
		ExpressionAttributeValues:           values,
		ReturnValues:                        types.ReturnValueAllNew,
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	var attrs map[string]types.AttributeValue
	var failed *types.ConditionalCheckFailedException
	switch {
	case errors.As(err, &failed):
		item, ours := m.ownWrite(ctx, failed, in.ShardID, in.Counter+1, now)
		if !ours {
			m.log.Debug("lease changed before it could be taken", "shard", in.ShardID)
			return false, nil
		}
		m.log.Debug("lease take was applied though its answer was lost", "shard", in.ShardID)
		attrs = item
	case err != nil:
		return false, fmt.Errorf("take lease of %s shard %s: %w", m.cfg.Table, in.ShardID, err)
	default:
		attrs = out.Attributes
	}
	h := leaseHolder{Owner: m.cfg.WorkerID, Counter: in.Counter + 1}
	l := &Lease{m: m, shardID: in.ShardID, counter: h.Counter, renewedAt: now, done: make(chan struct{})}
	if hasCheckpoint(attrs) {
		pos, err := decodePosition(attrs)
		if err != nil {
			// The lease is ours now: give it back rather than read from a guess.
			_ = m.release(ctx, in.ShardID, h)
			return false, fmt.Errorf("take lease of %s shard %s: its checkpoint is unreadable: %w", m.cfg.Table, in.ShardID, err)
		}
		l.pos, l.hasPos = pos, true
	}
	m.mu.Lock()
	stopping := m.noTake
	if !stopping {
		m.held[in.ShardID] = l
	}
	m.mu.Unlock()
	if stopping {
		// StopTaking was called while this take was in flight: no reader will start
		// for it, and Release may have run already. Give it back at once.
		m.log.Info("lease taken while stopping; giving it back", "shard", in.ShardID)
		return false, m.release(ctx, in.ShardID, h)
	}
	prev := in.Owner
	if prev == "" {
		prev = "nobody"
	}
	m.log.Info("lease taken", "shard", in.ShardID, "reason", why, "previous_owner", prev, "counter", in.Counter+1)
	return true, nil
}

func stamp(t time.Time) types.AttributeValue {
	return &types.AttributeValueMemberS{Value: stampText(t)}
}

func stampText(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }
