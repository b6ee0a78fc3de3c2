package sidecar

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ddbtape/ddbtape/metrics"
	"github.com/ddbtape/ddbtape/schedule"
)

func httpGet(url string) (int, string, error) {
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), err
}

// waitForCode polls url until it answers want, or fails the test after a generous
// minute (a loaded machine is slow to start a listener's goroutine).
func waitForCode(t *testing.T, url string, want int) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		code, body, err := httpGet(url)
		if err == nil && code == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s: %d %q (%v), want %d within a minute", url, code, body, err, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func discardLog() *slog.Logger { return slog.New(slog.DiscardHandler) }

// superviseForTest runs supervise with a server on a loopback port.
func superviseForTest(t *testing.T, ctx context.Context, grace time.Duration, jobs []schedule.Job) error {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var stopping atomic.Bool
	srv := metrics.NewServer(metrics.New(metrics.Options{NoRuntime: true}).Registry(), metrics.AllReady(), nil)
	return supervise(ctx, discardLog(), grace, &stopping, srv, ln, jobs)
}

func TestSupervise_AJobFailureStopsTheOthersAndIsReturned(t *testing.T) {
	t.Parallel()
	boom := errors.New("boom")
	stoppedCleanly := make(chan struct{})
	jobs := []schedule.Job{
		{Name: "capture a", Run: func(ctx context.Context) error { return boom }},
		{Name: "capture b", Run: func(ctx context.Context) error {
			<-ctx.Done()
			close(stoppedCleanly)
			return nil
		}},
	}
	err := superviseForTest(t, context.Background(), time.Minute, jobs)
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "capture a: boom") {
		t.Errorf("supervise = %v, want the failing job's error named", err)
	}
	select {
	case <-stoppedCleanly:
	default:
		t.Error("the other job was not stopped")
	}
}

func TestSupervise_StopReturnsNilOnceJobsHaveFlushed(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	flushed := false
	jobs := []schedule.Job{{Name: "capture", Run: func(ctx context.Context) error {
		<-ctx.Done()
		time.Sleep(50 * time.Millisecond) // storing and checkpointing
		flushed = true
		return nil
	}}}
	go func() { time.Sleep(50 * time.Millisecond); cancel() }()
	if err := superviseForTest(t, ctx, time.Minute, jobs); err != nil || !flushed {
		t.Errorf("supervise = %v (flushed %v), want nil after the job flushed", err, flushed)
	}
}

func TestSupervise_GivesUpAfterTheGracePeriod(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	release := make(chan struct{})
	defer close(release)
	jobs := []schedule.Job{{Name: "capture", Run: func(context.Context) error { <-release; return nil }}}
	cancel()
	err := superviseForTest(t, ctx, 100*time.Millisecond, jobs)
	if !errors.Is(err, ErrGraceExpired) || !strings.Contains(err.Error(), "shutdown-grace 100ms") {
		t.Errorf("supervise = %v, want ErrGraceExpired naming the grace", err)
	}
}

func TestSupervise_ServesWhileDrainingAndReportsNotReady(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var stopping atomic.Bool
	ready := metrics.ReadinessFunc(func(context.Context) error {
		if stopping.Load() {
			return errors.New("shutting down")
		}
		return nil
	})
	srv := metrics.NewServer(metrics.New(metrics.Options{NoRuntime: true}).Registry(), ready, nil)
	url := "http://" + ln.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	draining := make(chan struct{})
	seen := make(chan int, 1)
	jobs := []schedule.Job{{Name: "capture", Run: func(ctx context.Context) error {
		<-ctx.Done()
		close(draining)
		code, _, _ := httpGet(url + metrics.PathReadyz)
		seen <- code
		return nil
	}}}
	done := make(chan error, 1)
	go func() { done <- supervise(ctx, discardLog(), time.Minute, &stopping, srv, ln, jobs) }()
	waitForCode(t, url+metrics.PathReadyz, 200)
	cancel()
	<-draining
	if code := <-seen; code != 503 {
		t.Errorf("/readyz while draining = %d, want 503", code)
	}
	if err := <-done; err != nil {
		t.Errorf("supervise = %v", err)
	}
	if _, _, err := httpGet(url + metrics.PathHealthz); err == nil {
		t.Error("server still answers after supervise returned")
	}
}
