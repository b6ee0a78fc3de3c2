package metrics

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// clock is a settable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

var t0 = time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)

func newTestMetrics() (*Metrics, *clock) {
	c := &clock{t: t0}
	return New(Options{AppName: "orders-service", WorkerID: "w-1", Now: c.now, NoRuntime: true}), c
}

func TestMetrics_CountersAddUpByTable(t *testing.T) {
	m, _ := newTestMetrics()
	m.RecordsCaptured("orders", "shard-1", 3, 300, t0)
	m.RecordsCaptured("orders", "shard-2", 2, 50, t0)
	m.RecordsCaptured("users", "shard-9", 1, 10, t0)
	m.GetRecordsCall("orders", "shard-1")
	m.GetRecordsCall("orders", "shard-2")
	m.Throttled("orders", "GetRecords")
	m.Retried("orders", "GetRecords")
	m.Retried("orders", "PutObject")
	m.SegmentWritten("orders", 5, 4096)
	m.Gap("orders", "shard-1")

	want := `
# HELP ddbtape_records_captured_total Stream records received and appended to change segments.
# TYPE ddbtape_records_captured_total counter
ddbtape_records_captured_total{table="orders"} 5
ddbtape_records_captured_total{table="users"} 1
# HELP ddbtape_bytes_captured_total Size of the stream records received (their SizeBytes).
# TYPE ddbtape_bytes_captured_total counter
ddbtape_bytes_captured_total{table="orders"} 350
ddbtape_bytes_captured_total{table="users"} 10
# HELP ddbtape_getrecords_calls_total GetRecords requests made, the unit DynamoDB Streams bills, whatever their outcome.
# TYPE ddbtape_getrecords_calls_total counter
ddbtape_getrecords_calls_total{table="orders"} 2
# HELP ddbtape_throttles_total Calls refused for rate (throttling), by API operation.
# TYPE ddbtape_throttles_total counter
ddbtape_throttles_total{op="GetRecords",table="orders"} 1
# HELP ddbtape_retries_total Retried call attempts, by API operation.
# TYPE ddbtape_retries_total counter
ddbtape_retries_total{op="GetRecords",table="orders"} 1
ddbtape_retries_total{op="PutObject",table="orders"} 1
# HELP ddbtape_segments_written_total Change segments durably stored.
# TYPE ddbtape_segments_written_total counter
ddbtape_segments_written_total{table="orders"} 1
# HELP ddbtape_segment_records_written_total Records in the change segments durably stored.
# TYPE ddbtape_segment_records_written_total counter
ddbtape_segment_records_written_total{table="orders"} 5
# HELP ddbtape_segment_bytes_written_total Size of the change segments durably stored (Parquet bytes).
# TYPE ddbtape_segment_bytes_written_total counter
ddbtape_segment_bytes_written_total{table="orders"} 4096
# HELP ddbtape_gaps_total Stretches of a shard lost before they were read: restores across them fail until a new snapshot.
# TYPE ddbtape_gaps_total counter
ddbtape_gaps_total{table="orders"} 1
# HELP ddbtape_info Always 1; labels name this process.
# TYPE ddbtape_info gauge
ddbtape_info{app="orders-service",worker="w-1"} 1
`
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want),
		"ddbtape_records_captured_total", "ddbtape_bytes_captured_total", "ddbtape_getrecords_calls_total",
		"ddbtape_throttles_total", "ddbtape_retries_total", "ddbtape_segments_written_total",
		"ddbtape_segment_records_written_total", "ddbtape_segment_bytes_written_total", "ddbtape_gaps_total", "ddbtape_info"); err != nil {
		t.Error(err)
	}
}

func TestMetrics_ShardGaugesAreComputedAtScrapeTime(t *testing.T) {
	m, clk := newTestMetrics()
	m.ShardStarted("orders", "shard-1")
	clk.add(10 * time.Second)
	// Records created 4 s before they arrive; the checkpoint saved at the same time.
	m.RecordsCaptured("orders", "shard-1", 2, 20, clk.now().Add(-4*time.Second))
	m.CheckpointSaved("orders", "shard-1", clk.now())
	clk.add(30 * time.Second)

	want := `
# HELP ddbtape_shard_lag_seconds How far reading trails the stream: now minus the creation time of the last record received, or minus the last poll that found the shard empty, whichever is later.
# TYPE ddbtape_shard_lag_seconds gauge
ddbtape_shard_lag_seconds{shard="shard-1",table="orders"} 34
# HELP ddbtape_shard_idle_seconds Time since the shard last returned records (since reading started when it never did).
# TYPE ddbtape_shard_idle_seconds gauge
ddbtape_shard_idle_seconds{shard="shard-1",table="orders"} 30
# HELP ddbtape_checkpoint_age_seconds Time since the shard's checkpoint was last saved (since reading started when it was not yet).
# TYPE ddbtape_checkpoint_age_seconds gauge
ddbtape_checkpoint_age_seconds{shard="shard-1",table="orders"} 30
# HELP ddbtape_shards_reading Shards being read.
# TYPE ddbtape_shards_reading gauge
ddbtape_shards_reading{table="orders"} 1
`
	names := []string{"ddbtape_shard_lag_seconds", "ddbtape_shard_idle_seconds", "ddbtape_checkpoint_age_seconds", "ddbtape_shards_reading"}
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want), names...); err != nil {
		t.Error(err)
	}

	// An empty poll means everything created before it was read: lag drops, idle grows.
	m.ShardCaughtUp("orders", "shard-1", clk.now().Add(-time.Second))
	clk.add(time.Second)
	if got := gauge(t, m, "ddbtape_shard_lag_seconds"); got != 2 {
		t.Errorf("lag after an empty poll = %v, want 2", got)
	}
	if got := gauge(t, m, "ddbtape_shard_idle_seconds"); got != 31 {
		t.Errorf("idle after an empty poll = %v, want 31", got)
	}
	// An older report never moves the edges back.
	m.ShardCaughtUp("orders", "shard-1", t0)
	m.CheckpointSaved("orders", "shard-1", t0)
	if got := gauge(t, m, "ddbtape_shard_lag_seconds"); got != 2 {
		t.Errorf("lag after a stale report = %v, want 2", got)
	}
	if got := gauge(t, m, "ddbtape_checkpoint_age_seconds"); got != 31 {
		t.Errorf("checkpoint age after a stale report = %v, want 31", got)
	}

	m.ShardStopped("orders", "shard-1")
	if n, err := testutil.GatherAndCount(m.Registry(), names...); err != nil || n != 0 {
		t.Errorf("a stopped shard still has %d series (%v), want none", n, err)
	}
}

func TestMetrics_UnstartedShardAgesFromItsStart(t *testing.T) {
	m, clk := newTestMetrics()
	m.ShardStarted("orders", "s")
	clk.add(7 * time.Second)
	for _, name := range []string{"ddbtape_shard_lag_seconds", "ddbtape_shard_idle_seconds", "ddbtape_checkpoint_age_seconds"} {
		if got := gauge(t, m, name); got != 7 {
			t.Errorf("%s = %v, want 7 (seconds since the shard started)", name, got)
		}
	}
}

func TestMetrics_SnapshotCompactionAndWindow(t *testing.T) {
	m, _ := newTestMetrics()
	m.SnapshotFinished("orders", 90*time.Second, nil)
	m.SnapshotFinished("orders", 3*time.Second, errors.New("boom"))
	m.CompactionFinished("orders", 20*time.Second, nil)
	m.RestorableWindow("orders", t0.Add(-time.Hour), t0)

	if n, _ := testutil.GatherAndCount(m.Registry(), "ddbtape_snapshot_duration_seconds"); n != 2 {
		t.Errorf("snapshot duration series = %d, want 2 (ok and error)", n)
	}
	want := `
# HELP ddbtape_snapshot_last_success_timestamp_seconds When the last successful snapshot finished (Unix time).
# TYPE ddbtape_snapshot_last_success_timestamp_seconds gauge
ddbtape_snapshot_last_success_timestamp_seconds{table="orders"} 1.7952552e+09
# HELP ddbtape_compaction_last_success_timestamp_seconds When the last successful compaction finished (Unix time).
# TYPE ddbtape_compaction_last_success_timestamp_seconds gauge
ddbtape_compaction_last_success_timestamp_seconds{table="orders"} 1.7952552e+09
# HELP ddbtape_restorable_window_start_timestamp_seconds Earliest moment a restore can reach (Unix time).
# TYPE ddbtape_restorable_window_start_timestamp_seconds gauge
ddbtape_restorable_window_start_timestamp_seconds{table="orders"} 1.7952516e+09
# HELP ddbtape_restorable_window_end_timestamp_seconds Latest moment a restore can reach (Unix time).
# TYPE ddbtape_restorable_window_end_timestamp_seconds gauge
ddbtape_restorable_window_end_timestamp_seconds{table="orders"} 1.7952552e+09
`
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want),
		"ddbtape_snapshot_last_success_timestamp_seconds", "ddbtape_compaction_last_success_timestamp_seconds",
		"ddbtape_restorable_window_start_timestamp_seconds", "ddbtape_restorable_window_end_timestamp_seconds"); err != nil {
		t.Error(err)
	}
	m.RestorableWindow("orders", time.Time{}, time.Time{})
	if n, _ := testutil.GatherAndCount(m.Registry(), "ddbtape_restorable_window_start_timestamp_seconds"); n != 0 {
		t.Errorf("no window still exports %d series", n)
	}
}

func TestMetrics_EveryNameIsUnderDdbtapeAndLinted(t *testing.T) {
	m := New(Options{})
	m.ShardStarted("orders", "s")
	m.RecordsCaptured("orders", "s", 1, 1, time.Now())
	m.Throttled("orders", "GetRecords")
	m.Retried("orders", "GetRecords")
	m.SnapshotFinished("orders", time.Second, nil)
	m.CompactionFinished("orders", time.Second, nil)
	m.RestorableWindow("orders", time.Now(), time.Now())
	m.GetRecordsCall("orders", "s")
	m.SegmentWritten("orders", 1, 1)
	m.Gap("orders", "s")
	m.CheckpointSaved("orders", "s", time.Now())
	families, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	own := 0
	for _, f := range families {
		name := f.GetName()
		if strings.HasPrefix(name, "go_") || strings.HasPrefix(name, "process_") {
			continue
		}
		own++
		if !strings.HasPrefix(name, "ddbtape_") {
			t.Errorf("metric %s is not under ddbtape_", name)
		}
	}
	if own != 20 {
		t.Errorf("%d ddbtape metric families, want 20", own)
	}
	problems, err := testutil.GatherAndLint(m.Registry())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		if strings.HasPrefix(p.Metric, "ddbtape_") {
			t.Errorf("lint %s: %s", p.Metric, p.Text)
		}
	}
}

func TestMetrics_TwoInstancesDoNotShareState(t *testing.T) {
	a, b := New(Options{NoRuntime: true}), New(Options{NoRuntime: true})
	a.RecordsCaptured("orders", "s", 1, 1, time.Now())
	if n, _ := testutil.GatherAndCount(b.Registry(), "ddbtape_records_captured_total"); n != 0 {
		t.Errorf("a second Metrics sees the first one's records")
	}
}

func TestMetrics_ConcurrentReportsAndScrapes(t *testing.T) {
	m := New(Options{NoRuntime: true})
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			shard := string(rune('a' + i))
			for range 200 {
				m.ShardStarted("orders", shard)
				m.RecordsCaptured("orders", shard, 1, 10, time.Now())
				m.CheckpointSaved("orders", shard, time.Now())
				m.ShardStopped("orders", shard)
			}
		}()
	}
	for range 20 {
		if _, err := m.Registry().Gather(); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	if got := testutil.ToFloat64(m.records.WithLabelValues("orders")); got != 800 {
		t.Errorf("records = %v, want 800", got)
	}
}

// gauge returns the single value of a gauge family.
func gauge(t *testing.T, m *Metrics, name string) float64 {
	t.Helper()
	families, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == name && len(f.GetMetric()) == 1 {
			return f.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("no single series of %s", name)
	return 0
}
