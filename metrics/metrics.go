package metrics

import (
	"math"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Options configure New.
type Options struct {
	// AppName, WorkerID and Version (of the build) label ddbtape_info.
	AppName  string
	WorkerID string
	Version  string
	// Now is the clock for the per-shard gauges, computed at scrape time (time.Now).
	Now func() time.Time
	// NoRuntime leaves out the Go runtime and process collectors (for tests that compare
	// the whole exposition).
	NoRuntime bool
}

// Metrics is a Recorder over a Prometheus registry of its own. Create it with New.
type Metrics struct {
	reg *prometheus.Registry
	now func() time.Time

	records, bytes         *prometheus.CounterVec
	segments               *prometheus.CounterVec
	segmentRecords         *prometheus.CounterVec
	segmentBytes           *prometheus.CounterVec
	getRecords             *prometheus.CounterVec
	getRecordsCost         *prometheus.CounterVec
	throttles, retries     *prometheus.CounterVec
	gaps                   *prometheus.CounterVec
	snapshotDur            *prometheus.HistogramVec
	compactionDur          *prometheus.HistogramVec
	snapshotLast           *prometheus.GaugeVec
	compactionLast         *prometheus.GaugeVec
	windowStart, windowEnd *prometheus.GaugeVec
	exhausted              *prometheus.CounterVec
	leasesUnowned          *prometheus.GaugeVec
	snapshotInterval       *prometheus.GaugeVec
	verifyRuns             *prometheus.CounterVec
	verifyInterval         *prometheus.GaugeVec
	verifyLastPass         *prometheus.GaugeVec
	verifyCompared         *prometheus.GaugeVec
	verifyMismatches       *prometheus.GaugeVec
	verifyExpected         *prometheus.GaugeVec

	mu     sync.Mutex
	shards map[shardKey]*shardState
	// newest is each table's newest complete scan snapshot (zero: none), for the age.
	newest map[string]time.Time
}

// GapCauses are the causes Gap is called with (the ledger's), and ExhaustibleOps the
// operations RetriesExhausted is; TableScheduled creates their series at zero, so that an
// alert on increase() sees the first event of a process.
var (
	GapCauses      = []string{"trimmed", "vanished", "continuity"}
	ExhaustibleOps = []string{"DescribeTable", "DescribeStream", "GetShardIterator", "GetRecords", "Scan", "segment", "checkpoint", "ledger"}
)

var _ Recorder = (*Metrics)(nil)

type shardKey struct{ table, shard string }

// shardState is what the per-shard gauges are computed from at scrape time.
type shardState struct {
	started time.Time
	// readThrough: every record created before it has been received.
	readThrough time.Time
	// lastRecordAt is when records last arrived (wall clock), zero before the first.
	lastRecordAt time.Time
	checkpointAt time.Time
	// calls counts its GetRecords requests since reading started.
	calls int64
}

// durationBuckets cover a snapshot or compaction from seconds to a day.
var durationBuckets = []float64{1, 5, 15, 60, 300, 900, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 24 * 3600}

// New returns Metrics with every metric registered in a new registry.
func New(o Options) *Metrics {
	if o.Now == nil {
		o.Now = time.Now
	}
	m := &Metrics{reg: prometheus.NewRegistry(), now: o.Now, shards: map[shardKey]*shardState{}, newest: map[string]time.Time{}}
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		c := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "ddbtape", Name: name, Help: help}, labels)
		m.reg.MustRegister(c)
		return c
	}
	gauge := func(name, help string, labels ...string) *prometheus.GaugeVec {
		g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "ddbtape", Name: name, Help: help}, labels)
		m.reg.MustRegister(g)
		return g
	}
	histogram := func(name, help string) *prometheus.HistogramVec {
		h := prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: "ddbtape", Name: name, Help: help, Buckets: durationBuckets}, []string{"table", "result"})
		m.reg.MustRegister(h)
		return h
	}
	m.records = counter("records_captured_total", "Stream records received and appended to change segments.", "table")
	m.bytes = counter("bytes_captured_total", "Size of the stream records received (their SizeBytes).", "table")
	m.segments = counter("segments_written_total", "Change segments durably stored.", "table")
	m.segmentRecords = counter("segment_records_written_total", "Records in the change segments durably stored.", "table")
	m.segmentBytes = counter("segment_bytes_written_total", "Size of the change segments durably stored (Parquet bytes).", "table")
	m.getRecords = counter("getrecords_calls_total", "GetRecords requests made, the unit DynamoDB Streams bills, whatever their outcome.", "table")
	m.getRecordsCost = counter("getrecords_cost_dollars_total", "Estimated cost of the GetRecords requests made, at the list price of DynamoDB Streams read request units (USD 0.02 per 100,000; the first 2.5 million a month are free, which this ignores).", "table")
	m.throttles = counter("throttles_total", "Calls refused for rate (throttling), by API operation.", "table", "op")
	m.retries = counter("retries_total", "Retried call attempts, by API operation.", "table", "op")
	m.gaps = counter("gaps_total", "Stretches of a shard lost before they were read, by cause (trimmed, vanished, continuity): restores across them fail until a new snapshot.", "table", "cause")
	m.exhausted = counter("retries_exhausted_total", "Retry loops that gave up after their retry bound, by operation: what they were doing stopped.", "table", "op")
	m.leasesUnowned = gauge("leases_unowned", "Shards that can be read now whose lease nobody holds (free or expired), at this worker's last lease heartbeat.", "table")
	m.snapshotDur = histogram("snapshot_duration_seconds", "Duration of snapshot runs, by result (ok or error).")
	m.compactionDur = histogram("compaction_duration_seconds", "Duration of compaction runs, by result (ok or error).")
	m.snapshotLast = gauge("snapshot_last_success_timestamp_seconds", "When the last successful snapshot finished (Unix time).", "table")
	m.compactionLast = gauge("compaction_last_success_timestamp_seconds", "When the last successful compaction finished (Unix time).", "table")
	m.windowStart = gauge("restorable_window_start_timestamp_seconds", "Earliest moment a restore can reach (Unix time).", "table")
	m.windowEnd = gauge("restorable_window_end_timestamp_seconds", "Latest moment a restore can reach (Unix time); 0 while nothing is restorable.", "table")
	m.snapshotInterval = gauge("snapshot_interval_seconds", "The configured interval of scheduled scan snapshots (snapshot.every); 0 when none are scheduled.", "table")
	m.verifyRuns = counter("verify_runs_total", "Scheduled verifications, by result: pass, fail (items differ that no later change explains) or error (could not finish).", "table", "result")
	m.verifyInterval = gauge("verify_interval_seconds", "The configured interval of scheduled verifications (verify.every); 0 when none are scheduled.", "table")
	m.verifyLastPass = gauge("verify_last_success_timestamp_seconds", "When the newest passing verification finished (Unix time); 0 when none did.", "table")
	m.verifyCompared = gauge("verify_items_compared", "Items the last completed verification compared.", "table")
	m.verifyMismatches = gauge("verify_mismatches", "Items the last completed verification found different with no later change explaining it.", "table")
	m.verifyExpected = gauge("verify_expected_differences", "Items the last completed verification found different because of a write after the moment it verified.", "table")
	info := gauge("info", "Always 1; labels name this process and its build.", "app", "worker", "version")
	info.WithLabelValues(o.AppName, o.WorkerID, o.Version).Set(1)
	m.reg.MustRegister(shardCollector{m})
	if !o.NoRuntime {
		m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	return m
}

// Registry is the registry every metric is in, for serving and for tests.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// shard returns the state of a shard, creating it when a report comes before
// ShardStarted. Called with m.mu held.
func (m *Metrics) shard(table, shard string) *shardState {
	k := shardKey{table, shard}
	s := m.shards[k]
	if s == nil {
		s = &shardState{started: m.now()}
		m.shards[k] = s
	}
	return s
}

func (m *Metrics) ShardStarted(table, shard string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.shard(table, shard)
}

func (m *Metrics) ShardStopped(table, shard string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.shards, shardKey{table, shard})
}

// StreamsReadRequestPrice is the list price of one DynamoDB Streams read request unit
// (one GetRecords call) in USD: 0.02 per 100,000.
const StreamsReadRequestPrice = 0.02 / 100_000

func (m *Metrics) GetRecordsCall(table, shard string) {
	m.getRecords.WithLabelValues(table).Inc()
	m.getRecordsCost.WithLabelValues(table).Add(StreamsReadRequestPrice)
	m.mu.Lock()
	defer m.mu.Unlock()
	m.shard(table, shard).calls++
}

func (m *Metrics) RecordsCaptured(table, shard string, n int, bytes int64, lastCreated time.Time) {
	m.records.WithLabelValues(table).Add(float64(n))
	m.bytes.WithLabelValues(table).Add(float64(bytes))
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.shard(table, shard)
	s.lastRecordAt = m.now()
	if lastCreated.After(s.readThrough) {
		s.readThrough = lastCreated
	}
}

func (m *Metrics) ShardCaughtUp(table, shard string, polledAt time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.shard(table, shard)
	if polledAt.After(s.readThrough) {
		s.readThrough = polledAt
	}
}

func (m *Metrics) Throttled(table, op string) { m.throttles.WithLabelValues(table, op).Inc() }
func (m *Metrics) Retried(table, op string)   { m.retries.WithLabelValues(table, op).Inc() }

func (m *Metrics) SegmentWritten(table string, records int, bytes int64) {
	m.segments.WithLabelValues(table).Inc()
	m.segmentRecords.WithLabelValues(table).Add(float64(records))
	m.segmentBytes.WithLabelValues(table).Add(float64(bytes))
}

func (m *Metrics) CheckpointSaved(table, shard string, at time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.shard(table, shard)
	if at.After(s.checkpointAt) {
		s.checkpointAt = at
	}
}

func (m *Metrics) Gap(table, shard, cause string) { m.gaps.WithLabelValues(table, cause).Inc() }

func (m *Metrics) RetriesExhausted(table, op string) { m.exhausted.WithLabelValues(table, op).Inc() }

func (m *Metrics) LeasesUnowned(table string, n int) {
	m.leasesUnowned.WithLabelValues(table).Set(float64(n))
}

func (m *Metrics) NewestSnapshot(table string, finished time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.newest[table] = finished
}

func (m *Metrics) TableScheduled(table string, s Schedule) {
	m.snapshotInterval.WithLabelValues(table).Set(s.SnapshotEvery.Seconds())
	m.verifyInterval.WithLabelValues(table).Set(s.VerifyEvery.Seconds())
	for _, c := range GapCauses {
		m.gaps.WithLabelValues(table, c)
	}
	for _, op := range ExhaustibleOps {
		m.exhausted.WithLabelValues(table, op)
	}
	if s.VerifyEvery > 0 {
		for _, r := range []string{VerifyPass, VerifyFail, VerifyError} {
			m.verifyRuns.WithLabelValues(table, r)
		}
		// Never verified until a report says otherwise: an overdue alert can fire.
		m.verifyLastPass.WithLabelValues(table).Add(0)
	}
}

func (m *Metrics) VerifyFinished(table string, v Verification) {
	m.verifyRuns.WithLabelValues(table, v.Result).Inc()
	m.VerifyKnown(table, v)
}

func (m *Metrics) VerifyKnown(table string, v Verification) {
	if !v.LastPass.IsZero() {
		m.verifyLastPass.WithLabelValues(table).Set(float64(v.LastPass.UnixMilli()) / 1000)
	}
	if v.Result == VerifyPass || v.Result == VerifyFail {
		m.verifyCompared.WithLabelValues(table).Set(float64(v.Compared))
		m.verifyMismatches.WithLabelValues(table).Set(float64(v.Mismatches))
		m.verifyExpected.WithLabelValues(table).Set(float64(v.Expected))
	}
}

func (m *Metrics) SnapshotFinished(table string, took time.Duration, err error) {
	m.snapshotDur.WithLabelValues(table, result(err)).Observe(took.Seconds())
	if err == nil {
		m.snapshotLast.WithLabelValues(table).Set(float64(m.now().UnixMilli()) / 1000)
	}
}

func (m *Metrics) CompactionFinished(table string, took time.Duration, err error) {
	m.compactionDur.WithLabelValues(table, result(err)).Observe(took.Seconds())
	if err == nil {
		m.compactionLast.WithLabelValues(table).Set(float64(m.now().UnixMilli()) / 1000)
	}
}

// RestorableWindow sets both gauges to 0 when nothing is restorable, so that an alert on
// the window end's age fires for a table that has no window at all.
func (m *Metrics) RestorableWindow(table string, from, until time.Time) {
	if from.IsZero() || until.IsZero() {
		m.windowStart.WithLabelValues(table).Set(0)
		m.windowEnd.WithLabelValues(table).Set(0)
		return
	}
	m.windowStart.WithLabelValues(table).Set(float64(from.UnixMilli()) / 1000)
	m.windowEnd.WithLabelValues(table).Set(float64(until.UnixMilli()) / 1000)
}

func result(err error) string {
	if err != nil {
		return "error"
	}
	return "ok"
}

// shardCollector computes the per-shard gauges when scraped, so that a stalled shard's
// lag keeps growing even though nothing reports on it.
type shardCollector struct{ m *Metrics }

var (
	lagDesc = prometheus.NewDesc("ddbtape_shard_lag_seconds",
		"How far reading trails the stream: now minus the creation time of the last record received, or minus the last poll that found the shard empty, whichever is later.",
		[]string{"table", "shard"}, nil)
	idleDesc = prometheus.NewDesc("ddbtape_shard_idle_seconds",
		"Time since the shard last returned records (since reading started when it never did).",
		[]string{"table", "shard"}, nil)
	checkpointAgeDesc = prometheus.NewDesc("ddbtape_checkpoint_age_seconds",
		"Time since the shard's checkpoint was last saved (since reading started when it was not yet).",
		[]string{"table", "shard"}, nil)
	shardCallsDesc = prometheus.NewDesc("ddbtape_shard_getrecords_calls",
		"GetRecords requests made on the shard since this process started reading it (an idle shard polls at most once a minute by default).",
		[]string{"table", "shard"}, nil)
	readingDesc = prometheus.NewDesc("ddbtape_shards_reading",
		"Shards being read.", []string{"table"}, nil)
	snapshotAgeDesc = prometheus.NewDesc("ddbtape_snapshot_age_seconds",
		"Time since the newest complete scan snapshot finished, as the destination holds it; +Inf when the table has none.",
		[]string{"table"}, nil)
)

func (c shardCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- lagDesc
	ch <- idleDesc
	ch <- checkpointAgeDesc
	ch <- shardCallsDesc
	ch <- readingDesc
	ch <- snapshotAgeDesc
}

func (c shardCollector) Collect(ch chan<- prometheus.Metric) {
	m := c.m
	m.mu.Lock()
	type row struct {
		k shardKey
		s shardState
	}
	rows := make([]row, 0, len(m.shards))
	for k, s := range m.shards {
		rows = append(rows, row{k, *s})
	}
	newest := make(map[string]time.Time, len(m.newest))
	for t, at := range m.newest {
		newest[t] = at
	}
	m.mu.Unlock()
	sort.Slice(rows, func(i, j int) bool {
		if rows[i].k.table != rows[j].k.table {
			return rows[i].k.table < rows[j].k.table
		}
		return rows[i].k.shard < rows[j].k.shard
	})
	now := m.now()
	since := func(t, fallback time.Time) float64 {
		if t.IsZero() {
			t = fallback
		}
		return max(now.Sub(t).Seconds(), 0)
	}
	reading := map[string]int{}
	for _, r := range rows {
		reading[r.k.table]++
		ch <- prometheus.MustNewConstMetric(lagDesc, prometheus.GaugeValue, since(r.s.readThrough, r.s.started), r.k.table, r.k.shard)
		ch <- prometheus.MustNewConstMetric(idleDesc, prometheus.GaugeValue, since(r.s.lastRecordAt, r.s.started), r.k.table, r.k.shard)
		ch <- prometheus.MustNewConstMetric(checkpointAgeDesc, prometheus.GaugeValue, since(r.s.checkpointAt, r.s.started), r.k.table, r.k.shard)
		ch <- prometheus.MustNewConstMetric(shardCallsDesc, prometheus.GaugeValue, float64(r.s.calls), r.k.table, r.k.shard)
	}
	for table, n := range reading {
		ch <- prometheus.MustNewConstMetric(readingDesc, prometheus.GaugeValue, float64(n), table)
	}
	for table, at := range newest {
		age := math.Inf(1)
		if !at.IsZero() {
			age = max(now.Sub(at).Seconds(), 0)
		}
		ch <- prometheus.MustNewConstMetric(snapshotAgeDesc, prometheus.GaugeValue, age, table)
	}
}
