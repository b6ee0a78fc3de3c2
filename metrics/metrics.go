package metrics

import (
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Options configure New.
type Options struct {
	// AppName and WorkerID label ddbtape_info.
	AppName  string
	WorkerID string
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
	throttles, retries     *prometheus.CounterVec
	gaps                   *prometheus.CounterVec
	snapshotDur            *prometheus.HistogramVec
	compactionDur          *prometheus.HistogramVec
	snapshotLast           *prometheus.GaugeVec
	compactionLast         *prometheus.GaugeVec
	windowStart, windowEnd *prometheus.GaugeVec

	mu     sync.Mutex
	shards map[shardKey]*shardState
}

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
}

// durationBuckets cover a snapshot or compaction from seconds to a day.
var durationBuckets = []float64{1, 5, 15, 60, 300, 900, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 24 * 3600}

// New returns Metrics with every metric registered in a new registry.
func New(o Options) *Metrics {
	if o.Now == nil {
		o.Now = time.Now
	}
	m := &Metrics{reg: prometheus.NewRegistry(), now: o.Now, shards: map[shardKey]*shardState{}}
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
	m.throttles = counter("throttles_total", "Calls refused for rate (throttling), by API operation.", "table", "op")
	m.retries = counter("retries_total", "Retried call attempts, by API operation.", "table", "op")
	m.gaps = counter("gaps_total", "Stretches of a shard lost before they were read: restores across them fail until a new snapshot.", "table")
	m.snapshotDur = histogram("snapshot_duration_seconds", "Duration of snapshot runs, by result (ok or error).")
	m.compactionDur = histogram("compaction_duration_seconds", "Duration of compaction runs, by result (ok or error).")
	m.snapshotLast = gauge("snapshot_last_success_timestamp_seconds", "When the last successful snapshot finished (Unix time).", "table")
	m.compactionLast = gauge("compaction_last_success_timestamp_seconds", "When the last successful compaction finished (Unix time).", "table")
	m.windowStart = gauge("restorable_window_start_timestamp_seconds", "Earliest moment a restore can reach (Unix time).", "table")
	m.windowEnd = gauge("restorable_window_end_timestamp_seconds", "Latest moment a restore can reach (Unix time).", "table")
	info := gauge("info", "Always 1; labels name this process.", "app", "worker")
	info.WithLabelValues(o.AppName, o.WorkerID).Set(1)
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

func (m *Metrics) GetRecordsCall(table, shard string) {
	m.getRecords.WithLabelValues(table).Inc()
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

func (m *Metrics) Gap(table, shard string) { m.gaps.WithLabelValues(table).Inc() }

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

func (m *Metrics) RestorableWindow(table string, from, until time.Time) {
	if from.IsZero() || until.IsZero() {
		m.windowStart.DeleteLabelValues(table)
		m.windowEnd.DeleteLabelValues(table)
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
	readingDesc = prometheus.NewDesc("ddbtape_shards_reading",
		"Shards being read.", []string{"table"}, nil)
)

func (c shardCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- lagDesc
	ch <- idleDesc
	ch <- checkpointAgeDesc
	ch <- readingDesc
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
	}
	for table, n := range reading {
		ch <- prometheus.MustNewConstMetric(readingDesc, prometheus.GaugeValue, float64(n), table)
	}
}
