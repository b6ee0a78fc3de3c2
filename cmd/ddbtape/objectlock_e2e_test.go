package main

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/ddbtape/ddbtape/internal/ddblocal"
	"github.com/ddbtape/ddbtape/internal/workload"
	"github.com/ddbtape/ddbtape/metrics"
	"github.com/ddbtape/ddbtape/writer"
)

// TestObjectLock_RunCapturesSnapshotsCompactsAndPrunesWithoutDeletingALockedObject runs
// `ddbtape run` into a versitygw bucket with Object Lock (compliance, 100 s) while a
// workload writes: capture, the snapshot at start, compactions every 3 s (each a new
// snapshot; DynamoDB Local stamps to the minute, so compaction, at the window's end,
// trails by a minute) and retention (90 s) all run
// to completion, and a kill -9 in the middle is resumed from. Retention first reports the
// objects it must leave and deletes them once their lock has ended; nothing ddbtape does
// is refused by the lock. A delete or an overwrite of a locked segment fails; at the end
// verify --objects finds every object whole, status shows the lock, and a restore at
// latest equals the table.
func TestObjectLock_RunCapturesSnapshotsCompactsAndPrunesWithoutDeletingALockedObject(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	srv := ownVersitygw(ctx, t)
	bucket := srv.NewLockedBucket(t)
	dest := "s3://" + bucket + "/ddbtape/"
	client := srv.Client()

	inst := ddblocal.Shared(t)
	db := inst.DynamoDB()
	table := ddblocal.CreateTable(t, db, ddblocal.TableOptions{NamePrefix: "objlock"})
	w := workload.New(db, table, 41, 40)
	if err := w.Run(ctx, 60); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	path := writeConfig(t, fmt.Sprintf(`
region: us-east-1
endpoint-url: %s
destination: %s
spool-dir: %s
poll-interval: 200ms
roll: {records: 100, age: 1s}
snapshot: {at-start-if-missing: true}
compaction: {every: 3s}
retention: 90s
object-lock: {mode: compliance, for: 100s}
tables:
  - name: %s
http: {address: %q, ready-checkpoint-age: 30s}
shutdown-grace: 20s
`, inst.Endpoint, dest, filepath.Join(t.TempDir(), "spool"), table, addr))

	logs := &syncBuffer{}
	start := func() (*exec.Cmd, chan error) {
		cmd := ddbtapeCommand(ctx, t, srv.Env(), "run", "--config", path)
		cmd.Stderr = logs
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		return cmd, exited
	}
	cmd, exited := start()
	defer func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("ddbtape run stderr:\n%s", fleetTail(logs.String(), 300))
		}
	}()

	writeCtx, stopWrites := context.WithCancel(ctx)
	defer stopWrites()
	var writers sync.WaitGroup
	writeErr := make(chan error, 1)
	writers.Add(1)
	go func() {
		defer writers.Done()
		for i := 1; writeCtx.Err() == nil; i++ {
			if err := w.Step(writeCtx); err != nil && writeCtx.Err() == nil {
				writeErr <- err
				return
			}
			pause := 40 * time.Millisecond
			if i%10 == 0 {
				pause = 800 * time.Millisecond // lulls let the window end move
			}
			time.Sleep(pause)
		}
	}()

	base := "http://" + addr
	scrape := func() string {
		_, body, err := httpGet(base + metrics.PathMetrics)
		if err != nil {
			return ""
		}
		return body
	}
	count := func(name string) float64 {
		v, _ := metricValue(scrape(), name, `result="ok",table="`+table+`"`)
		return v
	}
	// DynamoDB Local stamps to the minute, so nothing is restorable for a minute or so.
	fleetWaitFor(t, 3*time.Minute, "a snapshot and a compaction under the lock", func() (bool, string) {
		s, c := count("ddbtape_snapshot_duration_seconds_count"), count("ddbtape_compaction_duration_seconds_count")
		return s >= 1 && c >= 1, fmt.Sprintf("%v snapshots, %v compactions", s, c)
	})

	// A crash: kill -9 and start again; the next process takes the dead one's capture lock
	// at once (same host) and goes on over what the lock keeps.
	_ = cmd.Process.Kill()
	<-exited
	t.Log("killed the run process; starting it again")
	cmd, exited = start()

	// A locked segment can be neither deleted nor overwritten.
	seg := newestSegment(ctx, t, client, bucket, "ddbtape/"+table+"/")
	_, err := client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String(seg)})
	if httpCode(err) != http.StatusForbidden {
		t.Errorf("delete of the locked segment %s: %v, want 403", seg, err)
	}
	_, err = client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(seg), Body: strings.NewReader("overwritten")})
	if httpCode(err) != http.StatusForbidden {
		t.Errorf("overwrite of the locked segment %s: %v, want 403", seg, err)
	}

	// Retention leaves what is locked, then deletes it once the lock has ended.
	fleetWaitFor(t, 4*time.Minute, "retention to skip locked objects, then delete them once their lock ended", func() (bool, string) {
		l := logs.String()
		held := strings.Contains(l, "S3 Object Lock still holds objects this run would delete")
		deleted := strings.Contains(l, "retention: deleted what no retained restore point needs")
		return held && deleted, fmt.Sprintf("held reported %v, deletion %v", held, deleted)
	})

	stopWrites()
	writers.Wait()
	select {
	case err := <-writeErr:
		t.Fatalf("workload: %v", err)
	default:
	}
	lastWrite := time.Now()
	fleetWaitFor(t, 3*time.Minute, "the window past the last write", func() (bool, string) {
		u, _ := metricValue(scrape(), "ddbtape_restorable_window_end_timestamp_seconds", `table="`+table+`"`)
		return u > float64(lastWrite.UnixMilli())/1000+1, fmt.Sprintf("window end %v, last write %s", u, lastWrite)
	})
	// The restarted process compacted too, under the lock.
	if c := count("ddbtape_compaction_duration_seconds_count"); c < 1 {
		t.Errorf("after the restart: %v compactions, want some", c)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		exited <- err
		if err != nil {
			t.Fatalf("ddbtape run after SIGTERM: %v", err)
		}
	case <-time.After(40 * time.Second):
		t.Fatal("ddbtape run did not exit within its grace after SIGTERM")
	}
	// Nothing ddbtape did was refused by the lock: it never asked to delete or rewrite a
	// locked object.
	for _, bad := range []string{"AccessDenied", "ErrLocked", "held under an S3 Object Lock retention", "level=ERROR"} {
		if strings.Contains(logs.String(), bad) {
			t.Errorf("the run log says %q:\n%s", bad, fleetTail(logs.String(), 200))
		}
	}

	env := srv.Env()
	// Every segment has its checksum in the ledger, also the one the killed process
	// stored last (the next capture records it).
	if r := ddbtape(ctx, t, env, "verify", "--objects", "--source", dest, "--table", table); r.code != 0 || !strings.Contains(r.stdout, "0 damaged, 0 missing") ||
		strings.Contains(r.stdout, "without a recorded checksum") {
		t.Errorf("verify --objects: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	} else {
		t.Logf("verify --objects:\n%s", r.stdout)
	}
	r := ddbtape(ctx, t, env, "status", "--source", dest, "--table", table)
	if r.code != 0 || !strings.Contains(r.stdout, "object lock: COMPLIANCE") || !strings.Contains(r.stdout, "earliest deletion: ") {
		t.Errorf("status does not show the lock: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	out := filepath.Join(t.TempDir(), "latest.json")
	if r := ddbtape(ctx, t, env, "restore", "--source", dest, "--table", table, "--at", "latest", "--to-file", out); r.code != 0 {
		t.Fatalf("restore: exit %d: %s", r.code, r.stderr)
	}
	live, err := workload.ScanAll(ctx, db, table)
	if err != nil {
		t.Fatal(err)
	}
	if got := readRestoredFile(t, out); !maps.Equal(got, live) {
		t.Errorf("restore at latest differs from a live Scan: %s", diffStates(got, live))
	}
}

// newestSegment is the key of the newest change segment under prefix.
func newestSegment(ctx context.Context, t *testing.T, client *s3.Client, bucket, prefix string) string {
	t.Helper()
	var newest string
	var at time.Time
	p := s3.NewListObjectsV2Paginator(client, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix + "changes/")})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range page.Contents {
			if _, ok := writer.ParseSegmentKey(strings.TrimPrefix(aws.ToString(o.Key), "ddbtape/")); ok && aws.ToTime(o.LastModified).After(at) {
				newest, at = aws.ToString(o.Key), aws.ToTime(o.LastModified)
			}
		}
	}
	if newest == "" {
		t.Fatal("no segment stored yet")
	}
	return newest
}

func httpCode(err error) int {
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

// A lock asked for on a bucket without Object Lock is refused at start with one line, for
// every command that writes, before anything is stored.
func TestObjectLock_ABucketWithoutObjectLockIsRefusedInOneLine(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	srv := ownVersitygw(ctx, t)
	bucket := srv.NewBucket(t)
	dest := "s3://" + bucket + "/ddbtape/"
	table := ddblocal.CreateTable(t, ddblocal.Shared(t).DynamoDB(), ddblocal.TableOptions{NamePrefix: "nolock"})
	lock := []string{"--object-lock-mode", "compliance", "--object-lock-for", "1d", "--endpoint-url", ddblocal.Shared(t).Endpoint}
	for _, args := range [][]string{
		append([]string{"capture", "--table", table, "--dest", dest, "--until-idle", "1s"}, lock...),
		append([]string{"snapshot", "--table", table, "--dest", dest}, lock...),
	} {
		r := ddbtape(ctx, t, srv.Env(), args...)
		msg := strings.TrimSpace(r.stderr)
		if r.code != 1 || strings.Contains(msg, "\n") || !strings.Contains(msg, "s3://"+bucket+": the bucket does not have S3 Object Lock enabled") {
			t.Errorf("%s with a lock on a bucket without Object Lock: exit %d, want 1 and one line:\n%s", args[0], r.code, r.stderr)
		}
		t.Logf("%s said: %s", args[0], msg)
	}
	if keys := s3Keys(ctx, t, srv.Client(), bucket, ""); len(keys) != 0 {
		t.Errorf("refused commands stored %v", keys)
	}
}
