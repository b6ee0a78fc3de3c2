package capturelock

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ddbtape/ddbtape/internal/s3local"
	"github.com/ddbtape/ddbtape/storage"
	"github.com/ddbtape/ddbtape/storage/dir"
	"github.com/ddbtape/ddbtape/storage/faulty"
	"github.com/ddbtape/ddbtape/storage/s3"
)

func TestMain(m *testing.M) { s3local.Main(m) }

const table = "orders"

// backends are the real stores the lock is tried on: a directory and versitygw.
var backends = []struct {
	name string
	new  func(t *testing.T) storage.Bucket
}{
	{"dir", func(t *testing.T) storage.Bucket {
		b, err := dir.New(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return b
	}},
	{"versitygw", func(t *testing.T) storage.Bucket {
		srv := s3local.Shared(t)
		return s3.New(srv.Client(), srv.NewBucket(t), "backups/", s3.Options{})
	}},
}

func readDoc(t *testing.T, b storage.Bucket) (Doc, error) {
	t.Helper()
	rc, err := b.Open(context.Background(), Key(table))
	if err != nil {
		return Doc{}, err
	}
	defer rc.Close()
	var d Doc
	data, err := io.ReadAll(rc)
	if err != nil {
		return Doc{}, err
	}
	return d, json.Unmarshal(data, &d)
}

func writeDoc(t *testing.T, b storage.Bucket, d Doc) {
	t.Helper()
	data, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Put(context.Background(), Key(table), bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
}

// waitFor polls cond until it holds; it fails the test after a minute.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestTake_ASecondCaptureIsRefusedUntilTheFirstReleases(t *testing.T) {
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			b := be.new(t)
			ctx := context.Background()
			_, release, err := Take(ctx, b, table, Options{})
			if err != nil {
				t.Fatal(err)
			}
			held, err := readDoc(t, b)
			if err != nil || held.PID != os.Getpid() || held.Owner == "" || !held.Expires.After(held.Since) {
				t.Fatalf("lock object %+v, %v; want this process's lock", held, err)
			}
			_, _, err = Take(ctx, b, table, Options{})
			var le *LockedError
			if !errors.As(err, &le) || !errors.Is(err, ErrLocked) {
				t.Fatalf("second Take = %v, want a LockedError", err)
			}
			msg := err.Error()
			host, _ := os.Hostname()
			for _, want := range []string{"another capture of table orders", host + " pid " + strconv.Itoa(os.Getpid()), "capture.lock", "on this host is running", "stop it first: a capture started after it ended takes its lock over at once"} {
				if !strings.Contains(msg, want) {
					t.Errorf("message lacks %q: %s", want, msg)
				}
			}
			if strings.Contains(msg, "\n") {
				t.Errorf("message is not one line: %q", msg)
			}
			t.Logf("%s", msg)
			if err := release(nil); err != nil {
				t.Fatalf("release = %v", err)
			}
			if d, err := readDoc(t, b); err != nil || !d.Released || d.Owner != held.Owner {
				t.Fatalf("lock after release: %+v, %v; want it marked released (capture deletes nothing)", d, err)
			}
			_, release, err = Take(ctx, b, table, Options{})
			if err != nil {
				t.Fatalf("Take after the first released: %v", err)
			}
			_ = release(nil)
		})
	}
}

func TestTake_TakesOverALockPastItsExpiryAndSkew(t *testing.T) {
	b := backends[0].new(t)
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	dead := Doc{Owner: "killed", Host: "elsewhere", PID: 4242, Since: now.Add(-time.Hour), Renewed: now.Add(-40 * time.Second), Expires: now.Add(-10 * time.Second)}
	writeDoc(t, b, dead)
	clock := now
	opts := Options{Now: func() time.Time { return clock }}

	// 10 s past its expiry it is still respected (clock skew), and the error says until when.
	_, _, err := Take(context.Background(), b, table, opts)
	var le *LockedError
	if !errors.As(err, &le) || !le.FreeAt.Equal(dead.Expires.Add(Skew)) || !strings.Contains(err.Error(), "start again after 2026-03-01T12:00:20Z (in 20s)") {
		t.Fatalf("Take within the skew = %v, want a LockedError free at %s", err, dead.Expires.Add(Skew))
	}
	clock = le.FreeAt.Add(time.Second)
	var logs bytes.Buffer
	opts.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	_, release, err := Take(context.Background(), b, table, opts)
	if err != nil {
		t.Fatalf("Take after expiry and skew: %v", err)
	}
	defer release(nil)
	if d, err := readDoc(t, b); err != nil || d.Owner == dead.Owner || d.PID != os.Getpid() {
		t.Errorf("lock after takeover %+v, %v; want this process's", d, err)
	}
	if !strings.Contains(logs.String(), "taking over") || !strings.Contains(logs.String(), "elsewhere pid 4242") {
		t.Errorf("the takeover is not logged with the old holder:\n%s", logs.String())
	}
}

func TestTake_TakesOverTheLockOfAProcessOfThisMachineThatEndedAtOnce(t *testing.T) {
	// A process that has ended: its pid names nothing any more.
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	me := self(time.Now())
	if me.ProcStart == "" {
		t.Fatal("this system does not tell process start times; the lock of a killed capture waits for its expiry")
	}
	for name, mutate := range map[string]func(*Doc){
		"Ended":     func(d *Doc) { d.PID = cmd.Process.Pid },
		"PIDReused": func(d *Doc) { d.ProcStart = "1" }, // our pid, another start
	} {
		t.Run(name, func(t *testing.T) {
			b := backends[0].new(t)
			killed := self(time.Now())
			killed.Owner = "killed"
			killed.Expires = time.Now().Add(time.Hour) // far from expiring
			mutate(&killed)
			writeDoc(t, b, killed)
			_, release, err := Take(context.Background(), b, table, Options{})
			if err != nil {
				t.Fatalf("Take = %v, want the lock of the ended process taken over", err)
			}
			_ = release(nil)
		})
	}
	t.Run("SameProcessIsRefused", func(t *testing.T) {
		b := backends[0].new(t)
		live := self(time.Now())
		live.Owner = "another capture in this process"
		live.Expires = time.Now().Add(time.Hour)
		writeDoc(t, b, live)
		if _, _, err := Take(context.Background(), b, table, Options{}); !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), "on this host is running") {
			t.Fatalf("Take = %v, want ErrLocked: the holder runs", err)
		}
	})
}

func TestTake_ACreateStoredButReportedFailedIsHeld(t *testing.T) {
	for _, be := range backends {
		for _, fault := range []error{faulty.ErrLostExists, faulty.ErrAfterCommit} {
			t.Run(be.name+"/"+fault.Error()[:30], func(t *testing.T) {
				under := be.new(t)
				b := faulty.New(under, faulty.Rule{Ops: faulty.Create, Stored: true, Err: fault, Times: 1})
				_, release, err := Take(context.Background(), b, table, Options{})
				if err != nil {
					t.Fatalf("Take = %v, want the lock: it is stored and ours", err)
				}
				if len(b.Fired()) != 1 {
					t.Fatal("the fault was not hit")
				}
				if err := release(nil); err != nil {
					t.Fatal(err)
				}
				if d, err := readDoc(t, under); err != nil || !d.Released {
					t.Fatalf("lock after release: %+v, %v; want it marked released", d, err)
				}
			})
		}
	}
}

func TestTake_RenewalsKeepTheLockPastItsFirstExpiry(t *testing.T) {
	b := backends[0].new(t)
	const ttl = 150 * time.Millisecond
	ctx, release, err := Take(context.Background(), b, table, Options{TTL: ttl})
	if err != nil {
		t.Fatal(err)
	}
	first, _ := readDoc(t, b)
	waitFor(t, "a renewal past the first expiry", func() bool {
		d, err := readDoc(t, b)
		return err == nil && d.Expires.After(first.Expires.Add(ttl))
	})
	if ctx.Err() != nil {
		t.Fatalf("the hold ended: %v", context.Cause(ctx))
	}
	if err := release(nil); err != nil {
		t.Fatal(err)
	}
}

func TestTake_AHolderThatFindsAnotherOwnersLockStops(t *testing.T) {
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			b := be.new(t)
			ctx, release, err := Take(context.Background(), b, table, Options{TTL: 150 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			intruder := Doc{Owner: "intruder", Host: "other-host", PID: 77, Since: time.Now(), Expires: time.Now().Add(time.Hour)}
			writeDoc(t, b, intruder)
			<-ctx.Done()
			var lost *LostError
			if !errors.As(context.Cause(ctx), &lost) || lost.Other.Owner != "intruder" {
				t.Fatalf("cause = %v, want a LostError naming the intruder", context.Cause(ctx))
			}
			err = release(nil)
			if !errors.Is(err, ErrLost) || !strings.Contains(err.Error(), "(other-host pid 77) took over") {
				t.Fatalf("release = %v, want the LostError", err)
			}
			if d, err := readDoc(t, b); err != nil || d.Owner != "intruder" {
				t.Errorf("the intruder's lock was touched: %+v, %v", d, err)
			}
		})
	}
}

// A full or unreachable destination fails the renewals; the capture rides the outage
// out (its own writes are retried), so the hold goes on, and is renewed once writes work.
func TestTake_FailedRenewalsDoNotEndTheHold(t *testing.T) {
	under := backends[0].new(t)
	const ttl = 150 * time.Millisecond
	b := faulty.New(under, faulty.Rule{Ops: faulty.Put, Times: 6}) // two TTLs of failures
	var logs syncLog
	ctx, release, err := Take(context.Background(), b, table, Options{TTL: ttl, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	first, _ := readDoc(t, under)
	waitFor(t, "a renewal after the failures", func() bool {
		d, err := readDoc(t, under)
		return err == nil && d.Expires.After(first.Expires)
	})
	if len(b.Fired()) != 6 {
		t.Fatalf("%d renewals failed, want 6", len(b.Fired()))
	}
	if ctx.Err() != nil {
		t.Fatalf("the hold ended: %v", context.Cause(ctx))
	}
	if err := release(nil); err != nil {
		t.Fatal(err)
	}
	out := logs.String()
	if strings.Count(out, "could not renew the capture lock") != 1 || !strings.Contains(out, "capture lock renewed again") {
		t.Errorf("want one warning for the failures and one line when renewed again:\n%s", out)
	}
}

// syncLog is a log destination the heartbeat and the test share.
type syncLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *syncLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *syncLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func TestTake_AnUnreadableLockIsNamedWithWhatToDo(t *testing.T) {
	b := backends[0].new(t)
	if err := b.Put(context.Background(), Key(table), strings.NewReader("not json")); err != nil {
		t.Fatal(err)
	}
	_, _, err := Take(context.Background(), b, table, Options{})
	if err == nil || !strings.Contains(err.Error(), "if no capture of table orders is running, delete it") {
		t.Fatalf("Take = %v, want an error saying to delete the lock", err)
	}
}
