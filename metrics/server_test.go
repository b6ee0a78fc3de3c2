package metrics

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ddbtape/ddbtape/checkpoint"
)

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

func TestServer_ServesMetricsHealthAndReadiness(t *testing.T) {
	m, _ := newTestMetrics()
	m.RecordsCaptured("orders", "s", 7, 70, t0)
	var notReady error = errors.New("table orders: no shard is being read")
	srv := httptest.NewServer(NewServer(m.Registry(), ReadinessFunc(func(context.Context) error { return notReady }), nil).Handler())
	defer srv.Close()

	code, body := get(t, srv.URL+PathMetrics)
	if code != 200 || !strings.Contains(body, `ddbtape_records_captured_total{table="orders"} 7`) {
		t.Errorf("GET /metrics = %d\n%s", code, body)
	}
	if code, body := get(t, srv.URL+PathHealthz); code != 200 || body != "ok\n" {
		t.Errorf("GET /healthz = %d %q", code, body)
	}
	if code, body := get(t, srv.URL+PathReadyz); code != 503 || body != "not ready: table orders: no shard is being read\n" {
		t.Errorf("GET /readyz while not ready = %d %q", code, body)
	}
	notReady = nil
	if code, body := get(t, srv.URL+PathReadyz); code != 200 || body != "ready\n" {
		t.Errorf("GET /readyz when ready = %d %q", code, body)
	}
	if code, _ := get(t, srv.URL+"/nope"); code != 404 {
		t.Errorf("GET /nope = %d, want 404", code)
	}
	resp, err := http.Post(srv.URL+PathHealthz, "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /healthz = %d, want 405", resp.StatusCode)
	}
}

func TestServer_ReadinessCheckIsBoundedInTime(t *testing.T) {
	m, _ := newTestMetrics()
	var deadline time.Time
	srv := httptest.NewServer(NewServer(m.Registry(), ReadinessFunc(func(ctx context.Context) error {
		deadline, _ = ctx.Deadline()
		return nil
	}), nil).Handler())
	defer srv.Close()
	before := time.Now()
	get(t, srv.URL+PathReadyz)
	if deadline.IsZero() || deadline.After(before.Add(ReadyTimeout+time.Second)) {
		t.Errorf("readiness ran with deadline %v, want one within %s", deadline, ReadyTimeout)
	}
}

func TestServer_StopsGracefullyWhenTheContextEnds(t *testing.T) {
	m, _ := newTestMetrics()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	entered := make(chan struct{})
	slow := ReadinessFunc(func(ctx context.Context) error {
		close(entered)
		<-release
		return nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- NewServer(m.Registry(), slow, nil).Serve(ctx, ln) }()

	url := "http://" + ln.Addr().String()
	inFlight := make(chan int, 1)
	go func() {
		resp, err := http.Get(url + PathReadyz)
		if err != nil {
			inFlight <- -1
			return
		}
		resp.Body.Close()
		inFlight <- resp.StatusCode
	}()
	<-entered
	cancel()
	// The request in flight is answered before Serve returns.
	select {
	case err := <-done:
		t.Fatalf("Serve returned %v while a request was in flight", err)
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	if code := <-inFlight; code != 200 {
		t.Errorf("request in flight during shutdown got %d, want 200", code)
	}
	if err := <-done; err != nil {
		t.Errorf("Serve after shutdown = %v, want nil", err)
	}
	if _, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second); err == nil {
		t.Errorf("still accepting connections after shutdown")
	}
}

func TestServer_ReportsAFailedListener(t *testing.T) {
	m, _ := newTestMetrics()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln.Close()
	if err := NewServer(m.Registry(), AllReady(), nil).Serve(context.Background(), ln); err == nil {
		t.Error("Serve on a closed listener returned nil")
	}
}

// loaderFunc is a CheckpointLoader over a function.
type loaderFunc func(ctx context.Context, table string) (checkpoint.Table, error)

func (f loaderFunc) Load(ctx context.Context, table string) (checkpoint.Table, error) {
	return f(ctx, table)
}

func state(ps ...checkpoint.Position) checkpoint.Table {
	t := checkpoint.Table{Shards: map[string]checkpoint.Position{}}
	for _, p := range ps {
		t.Shards[p.ShardID] = p
	}
	return t
}

func TestTableReady(t *testing.T) {
	now := t0
	const maxAge = 5 * time.Minute
	cases := []struct {
		name  string
		state checkpoint.Table
		want  string // "" for ready
	}{
		{"nothing recorded", state(), ErrNotReading.Error()},
		{"fresh open shard", state(checkpoint.Position{StreamARN: "s1", ShardID: "a", UpdatedAt: now.Add(-time.Minute)}), ""},
		{"stale open shard", state(
			checkpoint.Position{StreamARN: "s1", ShardID: "a", UpdatedAt: now.Add(-time.Minute)},
			checkpoint.Position{StreamARN: "s1", ShardID: "b", UpdatedAt: now.Add(-6 * time.Minute)},
		), "shard b: checkpoint is 6m0s old (limit 5m0s): reading or storing is stalled"},
		{"old finished shards do not count", state(
			checkpoint.Position{StreamARN: "s1", ShardID: "a", UpdatedAt: now.Add(-time.Hour), Finished: true},
			checkpoint.Position{StreamARN: "s1", ShardID: "b", UpdatedAt: now.Add(-10 * time.Second)},
		), ""},
		{"only finished shards", state(
			checkpoint.Position{StreamARN: "s1", ShardID: "a", UpdatedAt: now, Finished: true},
		), ErrNotReading.Error()},
		{"a replaced stream's shards do not count", state(
			checkpoint.Position{StreamARN: "old", ShardID: "a", UpdatedAt: now.Add(-48 * time.Hour)},
			checkpoint.Position{StreamARN: "new", ShardID: "b", UpdatedAt: now.Add(-time.Second)},
		), ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := TableReady(c.state, now, maxAge)
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != c.want {
				t.Errorf("TableReady = %q, want %q", got, c.want)
			}
		})
	}
}

func TestCheckpointReadiness_NamesTheTableAndCachesBriefly(t *testing.T) {
	clk := &clock{t: t0}
	loads := 0
	fresh := loaderFunc(func(_ context.Context, table string) (checkpoint.Table, error) {
		loads++
		return state(checkpoint.Position{StreamARN: "s", ShardID: "a", UpdatedAt: clk.now()}), nil
	})
	broken := loaderFunc(func(context.Context, string) (checkpoint.Table, error) {
		return checkpoint.Table{}, errors.New("access denied")
	})
	r := NewCheckpointReadiness(map[string]CheckpointLoader{"orders": fresh, "users": broken}, time.Minute)
	r.now = clk.now
	err := r.Ready(context.Background())
	if err == nil || err.Error() != "table users: load checkpoints: access denied" {
		t.Fatalf("Ready = %v, want the broken table named", err)
	}
	r.tables["users"] = fresh
	if err := r.Ready(context.Background()); err == nil {
		t.Errorf("answer was not cached for %s", DefaultReadinessCache)
	}
	clk.add(DefaultReadinessCache)
	if err := r.Ready(context.Background()); err != nil {
		t.Errorf("Ready after the cache expired = %v, want nil", err)
	}
	if loads != 3 {
		t.Errorf("%d checkpoint loads, want 3 (one per table per uncached check)", loads)
	}
}

func TestAllReady_ReportsTheFirstNotReady(t *testing.T) {
	ok := ReadinessFunc(func(context.Context) error { return nil })
	no := ReadinessFunc(func(context.Context) error { return errors.New("shutting down") })
	if err := AllReady(ok, no, ok).Ready(context.Background()); err == nil || err.Error() != "shutting down" {
		t.Errorf("AllReady = %v", err)
	}
	if err := AllReady().Ready(context.Background()); err != nil {
		t.Errorf("AllReady of nothing = %v, want ready", err)
	}
}

// startingCapture is a table whose capture began reading at since and saved nothing yet.
type startingCapture struct {
	loaderFunc
	since time.Time
}

func (s startingCapture) ReadingSince() time.Time { return s.since }

func TestCheckpointReadiness_AFirstStartIsReadyOnceReadingUntilItsCheckpointIsLate(t *testing.T) {
	clk := &clock{t: t0}
	empty := loaderFunc(func(context.Context, string) (checkpoint.Table, error) { return state(), nil })
	for _, tc := range []struct {
		name   string
		loader CheckpointLoader
		after  time.Duration
		want   string
	}{
		{"not reading yet", startingCapture{empty, time.Time{}}, 0, "table orders: " + ErrNotReading.Error()},
		{"reading for a moment", startingCapture{empty, t0}, time.Second, ""},
		{"reading for the whole checkpoint age", startingCapture{empty, t0}, time.Minute, ""},
		{"no checkpoint after the checkpoint age", startingCapture{empty, t0}, time.Minute + time.Second, "table orders: " + ErrNotReading.Error()},
		{"a loader that does not say when reading began", empty, time.Second, "table orders: " + ErrNotReading.Error()},
	} {
		r := NewCheckpointReadiness(map[string]CheckpointLoader{"orders": tc.loader}, time.Minute)
		r.now = func() time.Time { return clk.now().Add(tc.after) }
		got := ""
		if err := r.Ready(context.Background()); err != nil {
			got = err.Error()
		}
		if got != tc.want {
			t.Errorf("%s: Ready = %q, want %q", tc.name, got, tc.want)
		}
	}
}
