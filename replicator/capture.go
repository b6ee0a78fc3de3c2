// Package replicator runs the capture pipeline: it tails every shard of a table's stream
// in lineage order, stores records as Parquet change segments, checkpoints each shard
// once its records are durable, and records in the destination's ledger what it knows of
// the stream (package ledger): each shard as soon as it is listed, and coverage marks
// once the records they claim are durable.
//
// Coverage is judged by DynamoDB's clock (the Date of its answers), never this host's: a
// poll that found an open shard caught up covers it until that moment less
// catalog.StampMargin. A shard read from TRIM_HORIZON is covered from 24 hours before
// its first answer, never from before its stream existed; one read from LATEST from its
// first answer on. LATEST applies only to the shards listed when a table's first capture
// starts; every shard found later is read from its start.
//
// When the table's stream is replaced (disabled and enabled again), the old stream's
// shards that were not read to their end are drained while DynamoDB keeps them (24
// hours), beside the new stream.
package replicator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync/atomic"
	"time"

	"github.com/ddbtape/ddbtape/capturelock"
	"github.com/ddbtape/ddbtape/checkpoint"
	"github.com/ddbtape/ddbtape/globaltable"
	"github.com/ddbtape/ddbtape/ledger"
	"github.com/ddbtape/ddbtape/metrics"
	"github.com/ddbtape/ddbtape/retry"
	"github.com/ddbtape/ddbtape/shards"
	"github.com/ddbtape/ddbtape/storage"
	"github.com/ddbtape/ddbtape/writer"
)

// streamRetention is how long DynamoDB Streams keeps records. A first capture from
// TRIM_HORIZON covers this far back from its start.
const streamRetention = 24 * time.Hour

// continuityLimit is how long a shard may go unread before a restart can no longer prove
// that nothing expired meanwhile: the retention less an hour of margin.
const continuityLimit = streamRetention - time.Hour

// DefaultReportInterval is how often a capture logs its progress (Config.ReportInterval).
const DefaultReportInterval = time.Minute

// stampMargin is catalog.StampMargin: a stamp unit plus room for skew and propagation.
const stampMargin = time.Minute

// Config is what one table's capture needs besides its clients.
type Config struct {
	Table string
	// StartLatest reads the shards listed when the table's first capture starts from
	// LATEST instead of TRIM_HORIZON; every shard found later is read from its start.
	StartLatest bool
	Roll        writer.RollPolicy
	// UntilIdle, when positive, ends the capture once every open shard returned no new
	// record for this long and everything read is stored and checkpointed.
	UntilIdle time.Duration
	// RelistInterval is how often DescribeStream is asked for new shards (default 30 s).
	RelistInterval time.Duration
	// CoverageInterval is how often an idle shard saves how far it is covered, and how
	// often the ledger is written (default 10 s).
	CoverageInterval time.Duration
	// ReportInterval is how often the capture logs its progress at info level: records
	// and segments stored, shards read, how far every shard is read (default 1 minute).
	ReportInterval time.Duration
	// StoreRetryBound is how long storing a segment, checkpoint or ledger object is
	// retried before the capture stops (default DefaultStoreRetryBound).
	StoreRetryBound time.Duration
	// Sleep waits between store retries (default: a timer); tests shorten it.
	Sleep func(ctx context.Context, d time.Duration) error
	// SpoolDir holds segments being written before upload (default: the system temp dir).
	SpoolDir string
	// Reader tunes the per-shard read loop (poll and retry settings); API, StreamARN and
	// Logger are filled in per shard.
	Reader shards.Reader
	// Metrics receives the pipeline's events (records, segments, checkpoints, calls,
	// retries, gaps); nil: metrics.Nop.
	Metrics metrics.Recorder
	// FlushTimeout bounds the final flush after reading stopped (default 2 minutes); a
	// sidecar keeps it inside its shutdown grace period.
	FlushTimeout time.Duration
	// Leases, when set, shares the shards with other capture processes: this one reads
	// only the shards it holds a lease on (see leases.go). Nil: it reads every shard,
	// under the table's capture lock in the destination (see lock.go).
	Leases Leases
	// WriterID names this process in the ledger (default: host name and process id).
	WriterID string
	// Lock tunes the capture lock taken without Leases.
	Lock   capturelock.Options
	Logger *slog.Logger
}

// Capture tails one table's stream. Create it with NewCapture; Run it once.
type Capture struct {
	cfg      Config
	tables   shards.TableAPI
	streams  shards.StreamsAPI
	bucket   storage.Bucket
	store    checkpoint.Store
	ledger   *ledger.Writer
	now      func() time.Time
	log      *slog.Logger
	spoolDir string
	metrics  counters
	// readingSince is when Run began reading shards (unix nanos; 0: not yet).
	readingSince atomic.Int64
}

// ReadingSince is when Run began reading the stream's shards, zero before (or when it
// failed first): for readiness, which a first start would otherwise only reach with its
// first checkpoint.
func (c *Capture) ReadingSince() time.Time {
	if ns := c.readingSince.Load(); ns != 0 {
		return time.Unix(0, ns)
	}
	return time.Time{}
}

// counters are the capture's running totals (exported through Stats).
type counters struct {
	records, segments, gaps atomic.Int64
}

// Stats is a summary of a capture run.
type Stats struct {
	Records  int64
	Segments int64
	Gaps     int64
}

// NewCapture checks cfg and returns a capture ready to Run.
func NewCapture(cfg Config, tables shards.TableAPI, streams shards.StreamsAPI, bucket storage.Bucket, store checkpoint.Store) (*Capture, error) {
	if cfg.Table == "" {
		return nil, errors.New("capture: no table")
	}
	if cfg.Roll == (writer.RollPolicy{}) {
		cfg.Roll = writer.DefaultRollPolicy()
	}
	if err := cfg.Roll.Validate(); err != nil {
		return nil, err
	}
	if cfg.Reader.MaxIdleInterval <= 0 {
		// An idle shard is polled at most once a minute (GetRecords calls are billed), and
		// never less often than its segment rolls: a resumed write waits no longer to be
		// read than to be stored.
		cfg.Reader.MaxIdleInterval = min(shards.DefaultMaxIdleInterval, cfg.Roll.MaxAge)
	}
	if cfg.RelistInterval <= 0 {
		cfg.RelistInterval = 30 * time.Second
	}
	if cfg.ReportInterval <= 0 {
		cfg.ReportInterval = DefaultReportInterval
	}
	if cfg.CoverageInterval <= 0 {
		cfg.CoverageInterval = 10 * time.Second
	}
	if cfg.StoreRetryBound <= 0 {
		cfg.StoreRetryBound = DefaultStoreRetryBound
	}
	if cfg.Sleep == nil {
		cfg.Sleep = retry.Sleep
	}
	if cfg.Metrics == nil {
		cfg.Metrics = metrics.Nop{}
	}
	if cfg.FlushTimeout <= 0 {
		cfg.FlushTimeout = defaultFlushTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.WriterID == "" {
		host, _ := os.Hostname()
		cfg.WriterID = fmt.Sprintf("%s-%d", host, os.Getpid())
	}
	return &Capture{
		cfg:     cfg,
		tables:  tables,
		streams: streams,
		bucket:  bucket,
		store:   store,
		ledger:  ledger.NewWriter(bucket, cfg.Table, cfg.WriterID, nil),
		now:     time.Now,
		log:     cfg.Logger.With("table", cfg.Table),
	}, nil
}

// Stats returns the totals so far; safe to call while Run runs.
func (c *Capture) Stats() Stats {
	return Stats{Records: c.metrics.records.Load(), Segments: c.metrics.segments.Load(), Gaps: c.metrics.gaps.Load()}
}

// reader returns the read loop for one shard; it adds the shard to the log lines itself.
func (c *Capture) reader(streamARN, shardID string) *shards.Reader {
	r := c.cfg.Reader
	r.API, r.StreamARN, r.Logger = c.streams, streamARN, c.log
	r.Transcode = true
	r.Observer = callObserver{table: c.cfg.Table, shard: shardID, rec: c.cfg.Metrics}
	return &r
}

// checkRegion refuses to capture stream into a backup that holds another region's stream
// (a global table's replicas each have one, all carrying every write): the destination's
// ledger and checkpoint store say which region's it holds.
func checkRegion(table string, stream shards.Stream, known ledger.State, state checkpoint.Table) error {
	have := known.Regions()
	for _, p := range state.Shards {
		if r := globaltable.RegionOf(p.StreamARN); r != "" && !slices.Contains(have, r) {
			have = append(have, r)
		}
	}
	return globaltable.CheckRegion(table, "capture", globaltable.RegionOf(stream.StreamARN), have)
}

// flushLedger writes the ledger's pending facts, retrying as for segments.
func (c *Capture) flushLedger(ctx context.Context) error {
	if !c.ledger.Pending() {
		return nil
	}
	if err := c.retry(ctx, c.log, "ledger", func() error { return c.ledger.Flush(ctx) }); err != nil {
		return fmt.Errorf("write the ledger of %s: %w", c.cfg.Table, err)
	}
	return nil
}

// Run captures until ctx is cancelled (a normal stop: it returns nil once everything read
// is stored and checkpointed), until the table is idle with UntilIdle set, or until a
// shard fails, whose error it returns after the other shards have stored what they read.
// Without Leases it first takes the table's capture lock and returns a
// *capturelock.LockedError at once when another capture holds it (see lock.go).
func (c *Capture) Run(ctx context.Context) (err error) {
	stream, err := c.reader("", "").StreamOf(ctx, c.tables, c.cfg.Table)
	if err != nil {
		return err
	}
	ctx, unlock, err := c.lockDestination(ctx)
	if err != nil {
		return err
	}
	defer func() { err = unlock(err) }()
	state, err := c.store.Load(ctx, c.cfg.Table)
	if err != nil {
		return err
	}
	known, err := ledger.Read(ctx, c.bucket, c.cfg.Table)
	if err != nil {
		return err
	}
	if err := checkRegion(c.cfg.Table, stream, known, state); err != nil {
		return err
	}
	c.adoptUnrecorded(ctx, known)
	if stream.Table.Global() {
		c.log.Info("the table is a "+stream.Table.String()+": capturing the stream of this region only, which carries every region's writes; the backup records the region and refuses another region's stream",
			"region", stream.Table.Region)
	}
	removeStaleSpools(c.cfg.SpoolDir, c.log)
	spool, err := os.MkdirTemp(c.cfg.SpoolDir, spoolPrefix())
	if err != nil {
		return fmt.Errorf("create spool directory: %w", err)
	}
	defer os.RemoveAll(spool)
	c.spoolDir = spool

	r := newRun(c, state, known)
	if err := r.prepare(ctx, stream); err != nil {
		return err
	}
	c.log.Info("capture started", "stream", stream.StreamARN, "known_shards", len(r.streams[stream.StreamARN].positions))
	err = c.withLeases(ctx, func() error { return r.loop(ctx) })
	st := c.Stats()
	c.log.Info("capture stopped", "records", st.Records, "segments", st.Segments, "gaps", st.Gaps)
	return err
}
