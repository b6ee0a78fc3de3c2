package main

import (
	"context"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ddbtape/ddbtape/internal/ddblocal"
	"github.com/ddbtape/ddbtape/internal/workload"
)

// A running capture says every --report-interval, at the default (info) level, what it
// has read and stored and how far it has read; a SIGTERM is acknowledged when it comes.
func TestCapture_ARunningCaptureReportsProgressAndAcknowledgesItsStop(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	local := ddblocal.Shared(t)
	db := local.DynamoDB()
	table := ddblocal.CreateTable(t, db, ddblocal.TableOptions{})
	if err := workload.New(db, table, 1, 100).Run(ctx, 300); err != nil {
		t.Fatal(err)
	}
	cmd := ddbtapeCommand(ctx, t, nil, "capture", "--table", table, "--dest", t.TempDir(), "--report-interval", "1s", "--roll-age", "2s")
	var stderr syncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// records_read reaches the 300 writes, two segments at least are stored (the roll
	// age), and the shard's read-through time shows once it has caught up.
	progress := regexp.MustCompile(`level=INFO msg=capturing table=` + table + ` records_read=300 segments=[1-9][0-9]* shards_reading=1 read_through=\S+ behind=\S+`)
	fleetWaitFor(t, 3*time.Minute, "a progress line with every record read and a segment stored", func() (bool, string) {
		return progress.MatchString(stderr.String()), stderr.String()
	})
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("capture after SIGTERM: %v\n%s", err, stderr.String())
	}
	out := stderr.String()
	ack := strings.Index(out, "ddbtape: SIGTERM received: stopping cleanly (send it again to quit at once)\n")
	stopped := strings.Index(out, "msg=\"capture stopped\"")
	if ack < 0 || stopped < ack {
		t.Errorf("the stop is not acknowledged before the capture stops:\n%s", out)
	}
}
