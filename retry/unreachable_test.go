package retry

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// refused is the error of a call to a port where nothing listens, as the SDK wraps it.
var refused = &url.Error{Op: "Post", URL: "http://127.0.0.1:1/", Err: &net.OpError{
	Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}}

func TestUnreachable_NamesTheEndpointOfARealFailedDialOnly(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + l.Addr().String()
	l.Close()
	_, err = http.Get(closed + "/some/path?x=1")
	ep, ok := Unreachable(err)
	if !ok || ep.URL != closed || ep.Cause != "connection refused" {
		t.Errorf("Unreachable(%v) = %+v, %v; want %s, connection refused", err, ep, ok, closed)
	}

	dns := &url.Error{Op: "Get", URL: "https://bkt.s3.example.invalid/?list-type=2", Err: &net.OpError{
		Op: "dial", Err: &net.DNSError{Err: "no such host", Name: "bkt.s3.example.invalid", IsNotFound: true}}}
	if ep, ok := Unreachable(dns); !ok || ep.URL != "https://bkt.s3.example.invalid" || ep.Cause != "unknown host bkt.s3.example.invalid" {
		t.Errorf("Unreachable(DNS failure) = %+v, %v", ep, ok)
	}

	// An endpoint that answers, even with an error, or drops a connection it accepted, was
	// reached: the retry bound applies, not the first contact's.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/drop" {
			c, _, _ := w.(http.Hijacker).Hijack()
			c.Close()
			return
		}
		http.Error(w, "busy", http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	_, err = http.Get(srv.URL + "/drop")
	if err == nil {
		t.Fatal("a dropped connection returned no error")
	}
	if ep, ok := Unreachable(err); ok {
		t.Errorf("a connection dropped after it was accepted counts as unreachable: %+v", ep)
	}
	if _, ok := Unreachable(throttle); ok {
		t.Error("a throttling answer counts as unreachable")
	}
}

func TestDo_FirstContactGivesUpSoonOnAnEndpointNeverReached(t *testing.T) {
	f := newFakeTime()
	var calls int
	p := f.policy(Policy{What: "describe table orders", Bound: 5 * time.Minute, FirstContact: 15 * time.Second})
	err := Do(t.Context(), p, failing(1<<30, refused, &calls))
	var ue *UnreachableError
	if !errors.As(err, &ue) || !errors.Is(err, ErrUnreachable) || !errors.Is(err, ErrGaveUp) || !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("Do = %v, want an *UnreachableError wrapping ErrUnreachable, ErrGaveUp and the cause", err)
	}
	if ue.Elapsed > 15*time.Second || calls < 2 {
		t.Errorf("gave up after %v and %d calls, want a few calls within the first contact's 15s", ue.Elapsed, calls)
	}
	msg := err.Error()
	for _, want := range []string{"cannot reach http://127.0.0.1:1 (connection refused) for ", "while trying to describe table orders", UnreachableHint} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q lacks %q", msg, want)
		}
	}
	if strings.Contains(msg, "dial tcp") {
		t.Errorf("message %q repeats the SDK's text", msg)
	}
}

func TestDo_FirstContactNeverCutsShortACallThatReachedItsEndpoint(t *testing.T) {
	f := newFakeTime()
	var calls int
	p := f.policy(Policy{Bound: time.Minute, FirstContact: 15 * time.Second})
	err := Do(t.Context(), p, func(ctx context.Context) error {
		calls++
		if calls == 1 {
			return throttle // an answer: the endpoint is there
		}
		return refused
	})
	if errors.Is(err, ErrUnreachable) || !errors.Is(err, ErrGaveUp) {
		t.Fatalf("Do = %v, want the bound's ErrGaveUp", err)
	}
	if f.Now().Sub(time.Unix(1_800_000_000, 0)) < 30*time.Second {
		t.Errorf("gave up after %v, want most of the one-minute bound", f.Now().Sub(time.Unix(1_800_000_000, 0)))
	}
}

func TestDo_TheRetryLogSaysWhenItGivesUpAndWhichSettingBoundsIt(t *testing.T) {
	for _, tc := range []struct {
		bound time.Duration
		want  string
	}{
		{5 * time.Second, "gives_up_after=5s bounded_by=retry-bound"},
		{time.Minute, "gives_up_after=15s"},
	} {
		var buf bytes.Buffer
		f := newFakeTime()
		var calls int
		p := f.policy(Policy{Bound: tc.bound, FirstContact: 15 * time.Second, BoundName: "retry-bound",
			Log: &Log{Logger: slog.New(slog.NewTextHandler(&buf, nil)), Retrying: "retrying"}})
		_ = Do(t.Context(), p, failing(3, refused, &calls))
		line, _, _ := strings.Cut(buf.String(), "\n")
		if !strings.Contains(line, tc.want) || (tc.bound == time.Minute && strings.Contains(line, "bounded_by")) {
			t.Errorf("bound %v: retry line %q, want %q", tc.bound, line, tc.want)
		}
	}
}
