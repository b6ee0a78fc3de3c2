package main

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ddbtape/ddbtape/capturelock"
	"github.com/ddbtape/ddbtape/internal/ddblocal"
)

// Two captures of one table into one destination without leases: the second stops at
// once with one line naming the first; after the first is killed with SIGKILL, a new
// capture on this machine takes its lock over at once (its process is gone).
func TestCapture_ASecondCaptureOfTheSameTableAndDestinationIsRefusedWithOneLine(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	db := ddblocal.Shared(t).DynamoDB()
	table := ddblocal.CreateTable(t, db, ddblocal.TableOptions{})
	dest := t.TempDir()
	args := []string{"capture", "--table", table, "--dest", dest, "--poll-interval", "100ms"}

	first := ddbtapeCommand(ctx, t, nil, args...)
	var out syncBuffer
	first.Stdout, first.Stderr = &out, &out
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	lock := filepath.Join(dest, filepath.FromSlash(capturelock.Key(table)))
	deadline := time.Now().Add(time.Minute)
	for {
		if _, err := os.Stat(lock); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the first capture took no lock in a minute:\n%s", out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}

	r := ddbtape(ctx, t, nil, args...)
	oneLine(t, r, 1, "another capture of table "+table, "pid "+strconv.Itoa(first.Process.Pid), "capture.lock", "stop it first")
	t.Logf("second capture: %s", strings.TrimSpace(r.stderr))
	if err := first.Process.Signal(syscall.Signal(0)); err != nil {
		t.Fatalf("the first capture ended (%v):\n%s", err, out.String())
	}

	_ = first.Process.Signal(syscall.SIGKILL)
	_ = first.Wait()
	if _, err := os.Stat(lock); err != nil {
		t.Fatalf("the killed capture's lock is gone (%v): the takeover below tests nothing", err)
	}
	r = ddbtape(ctx, t, nil, append(args, "--until-idle", "1s")...)
	if r.code != 0 {
		t.Fatalf("capture after the first was killed: exit %d:\n%s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, "taking over the capture lock") {
		t.Errorf("the takeover is not logged:\n%s", r.stderr)
	}
}
