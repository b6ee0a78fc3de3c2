package metrics

import (
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/ddbtape/ddbtape/ledger"
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
	return New(Options{AppName: "orders-service", WorkerID: "w-1", Version: "v1.4.0", Now: c.now, NoRuntime: true}), c
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
	m.Gap("orders", "shard-1", "trimmed")

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
# HELP ddbtape_getrecords_cost_dollars_total Estimated cost of the GetRecords requests made, at the list price of DynamoDB Streams read request units (USD 0.02 per 100,000; the first 2.5 million a month are free, which this ignores).
# TYPE ddbtape_getrecords_cost_dollars_total counter
ddbtape_getrecords_cost_dollars_total{table="orders"} 4e-07
# HELP ddbtape_shard_getrecords_calls GetRecords requests made on the shard since this process started reading it (an idle shard polls at most once a minute by default).
# TYPE ddbtape_shard_getrecords_calls gauge
ddbtape_shard_getrecords_calls{shard="shard-1",table="orders"} 1
ddbtape_shard_getrecords_calls{shard="shard-2",table="orders"} 1
ddbtape_shard_getrecords_calls{shard="shard-9",table="users"} 0
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
# HELP ddbtape_gaps_total Stretches of a shard lost before they were read, by cause (trimmed, vanished, continuity): restores across them fail until a new snapshot.
# TYPE ddbtape_gaps_total counter
ddbtape_gaps_total{cause="trimmed",table="orders"} 1
# HELP ddbtape_info Always 1; labels name this process and its build.
# TYPE ddbtape_info gauge
ddbtape_info{app="orders-service",version="v1.4.0",worker="w-1"} 1
`
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want),
		"ddbtape_records_captured_total", "ddbtape_bytes_captured_total", "ddbtape_getrecords_calls_total",
		"ddbtape_getrecords_cost_dollars_total", "ddbtape_shard_getrecords_calls", "ddbtape_throttles_total", "ddbtape_retries_total", "ddbtape_segments_written_total",
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
# HELP ddbtape_restorable_window_end_timestamp_seconds Latest moment a restore can reach (Unix time); 0 while nothing is restorable.
# TYPE ddbtape_restorable_window_end_timestamp_seconds gauge
ddbtape_restorable_window_end_timestamp_seconds{table="orders"} 1.7952552e+09
`
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want),
		"ddbtape_snapshot_last_success_timestamp_seconds", "ddbtape_compaction_last_success_timestamp_seconds",
		"ddbtape_restorable_window_start_timestamp_seconds", "ddbtape_restorable_window_end_timestamp_seconds"); err != nil {
		t.Error(err)
	}
	// No window: both ends read 0, so "time() - end > X" alerts on a table with none.
	m.RestorableWindow("orders", time.Time{}, time.Time{})
	for _, name := range []string{"ddbtape_restorable_window_start_timestamp_seconds", "ddbtape_restorable_window_end_timestamp_seconds"} {
		if got := gauge(t, m, name); got != 0 {
			t.Errorf("%s with no window = %v, want 0", name, got)
		}
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
	m.Gap("orders", "s", "trimmed")
	m.CheckpointSaved("orders", "s", time.Now())
	m.RetriesExhausted("orders", "GetRecords")
	m.LeasesUnowned("orders", 1)
	m.NewestSnapshot("orders", time.Now())
	m.TableScheduled("orders", Schedule{SnapshotEvery: time.Hour, VerifyEvery: time.Hour})
	m.VerifyFinished("orders", Verification{Result: VerifyPass, Compared: 1, LastPass: time.Now()})
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
	if own != 32 {
		t.Errorf("%d ddbtape metric families, want 32", own)
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

func TestMetrics_TableScheduledCreatesTheSeriesAlertsWatch(t *testing.T) {
	m, _ := newTestMetrics()
	m.TableScheduled("orders", Schedule{SnapshotEvery: 24 * time.Hour, VerifyEvery: 6 * time.Hour})
	want := `
# HELP ddbtape_gaps_total Stretches of a shard lost before they were read, by cause (trimmed, vanished, continuity): restores across them fail until a new snapshot.
# TYPE ddbtape_gaps_total counter
ddbtape_gaps_total{cause="continuity",table="orders"} 0
ddbtape_gaps_total{cause="trimmed",table="orders"} 0
ddbtape_gaps_total{cause="vanished",table="orders"} 0
# HELP ddbtape_snapshot_interval_seconds The configured interval of scheduled scan snapshots (snapshot.every); 0 when none are scheduled.
# TYPE ddbtape_snapshot_interval_seconds gauge
ddbtape_snapshot_interval_seconds{table="orders"} 86400
# HELP ddbtape_verify_interval_seconds The configured interval of scheduled verifications (verify.every); 0 when none are scheduled.
# TYPE ddbtape_verify_interval_seconds gauge
ddbtape_verify_interval_seconds{table="orders"} 21600
# HELP ddbtape_verify_last_success_timestamp_seconds When the newest passing verification finished (Unix time); 0 when none did.
# TYPE ddbtape_verify_last_success_timestamp_seconds gauge
ddbtape_verify_last_success_timestamp_seconds{table="orders"} 0
# HELP ddbtape_verify_runs_total Scheduled verifications, by result: pass, fail (items differ that no later change explains) or error (could not finish).
# TYPE ddbtape_verify_runs_total counter
ddbtape_verify_runs_total{result="error",table="orders"} 0
ddbtape_verify_runs_total{result="fail",table="orders"} 0
ddbtape_verify_runs_total{result="pass",table="orders"} 0
`
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want), "ddbtape_gaps_total", "ddbtape_snapshot_interval_seconds",
		"ddbtape_verify_interval_seconds", "ddbtape_verify_last_success_timestamp_seconds", "ddbtape_verify_runs_total"); err != nil {
		t.Error(err)
	}
	if n, _ := testutil.GatherAndCount(m.Registry(), "ddbtape_retries_exhausted_total"); n != len(ExhaustibleOps) {
		t.Errorf("%d retries_exhausted_total series, want one per operation (%d)", n, len(ExhaustibleOps))
	}
}

func TestMetrics_GapCausesAreTheLedgers(t *testing.T) {
	if want := []string{ledger.CauseTrimmed, ledger.CauseVanished, ledger.CauseContinuity}; !slices.Equal(GapCauses, want) {
		t.Errorf("GapCauses = %v, want the ledger's causes %v", GapCauses, want)
	}
}

func TestMetrics_GaveUpLeasesAndSnapshotAge(t *testing.T) {
	m, clk := newTestMetrics()
	m.RetriesExhausted("orders", "GetRecords")
	m.RetriesExhausted("orders", "segment")
	m.RetriesExhausted("orders", "segment")
	m.LeasesUnowned("orders", 2)
	m.NewestSnapshot("orders", t0.Add(-90*time.Minute))
	m.NewestSnapshot("users", time.Time{})
	want := `
# HELP ddbtape_retries_exhausted_total Retry loops that gave up after their retry bound, by operation: what they were doing stopped.
# TYPE ddbtape_retries_exhausted_total counter
ddbtape_retries_exhausted_total{op="GetRecords",table="orders"} 1
ddbtape_retries_exhausted_total{op="segment",table="orders"} 2
# HELP ddbtape_leases_unowned Shards that can be read now whose lease nobody holds (free or expired), at this worker's last lease heartbeat.
# TYPE ddbtape_leases_unowned gauge
ddbtape_leases_unowned{table="orders"} 2
# HELP ddbtape_snapshot_age_seconds Time since the newest complete scan snapshot finished, as the destination holds it; +Inf when the table has none.
# TYPE ddbtape_snapshot_age_seconds gauge
ddbtape_snapshot_age_seconds{table="orders"} 5400
ddbtape_snapshot_age_seconds{table="users"} +Inf
`
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want), "ddbtape_retries_exhausted_total", "ddbtape_leases_unowned", "ddbtape_snapshot_age_seconds"); err != nil {
		t.Error(err)
	}
	// The age grows between reports, like the shard gauges.
	clk.add(time.Minute)
	m.LeasesUnowned("orders", 0)
	if n, err := testutil.GatherAndCount(m.Registry(), "ddbtape_snapshot_age_seconds"); err != nil || n != 2 {
		t.Fatalf("snapshot age series = %d (%v)", n, err)
	}
	if got := testutil.ToFloat64(m.leasesUnowned.WithLabelValues("orders")); got != 0 {
		t.Errorf("unowned leases after a heartbeat found none = %v", got)
	}
}

func TestMetrics_VerificationResults(t *testing.T) {
	m, _ := newTestMetrics()
	m.TableScheduled("orders", Schedule{VerifyEvery: time.Hour})
	// What a restarted process learns from the stored report: no run counted.
	m.VerifyKnown("orders", Verification{Result: VerifyPass, Compared: 10, LastPass: t0.Add(-time.Hour)})
	m.VerifyFinished("orders", Verification{Result: VerifyFail, Compared: 12, Mismatches: 1, Expected: 3, LastPass: t0.Add(-time.Hour)})
	// An error changes no count of the last completed run.
	m.VerifyFinished("orders", Verification{Result: VerifyError, LastPass: t0.Add(-time.Hour)})
	want := `
# HELP ddbtape_verify_runs_total Scheduled verifications, by result: pass, fail (items differ that no later change explains) or error (could not finish).
# TYPE ddbtape_verify_runs_total counter
ddbtape_verify_runs_total{result="error",table="orders"} 1
ddbtape_verify_runs_total{result="fail",table="orders"} 1
ddbtape_verify_runs_total{result="pass",table="orders"} 0
# HELP ddbtape_verify_last_success_timestamp_seconds When the newest passing verification finished (Unix time); 0 when none did.
# TYPE ddbtape_verify_last_success_timestamp_seconds gauge
ddbtape_verify_last_success_timestamp_seconds{table="orders"} 1.7952516e+09
# HELP ddbtape_verify_items_compared Items the last completed verification compared.
# TYPE ddbtape_verify_items_compared gauge
ddbtape_verify_items_compared{table="orders"} 12
# HELP ddbtape_verify_mismatches Items the last completed verification found different with no later change explaining it.
# TYPE ddbtape_verify_mismatches gauge
ddbtape_verify_mismatches{table="orders"} 1
# HELP ddbtape_verify_expected_differences Items the last completed verification found different because of a write after the moment it verified.
# TYPE ddbtape_verify_expected_differences gauge
ddbtape_verify_expected_differences{table="orders"} 3
`
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want), "ddbtape_verify_runs_total", "ddbtape_verify_last_success_timestamp_seconds",
		"ddbtape_verify_items_compared", "ddbtape_verify_mismatches", "ddbtape_verify_expected_differences"); err != nil {
		t.Error(err)
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
