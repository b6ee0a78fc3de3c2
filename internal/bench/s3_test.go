package bench

// Capture and restore with an S3 destination (versitygw on this machine, through the real
// SDK) against the same work with a local directory. Both stores are local, so the ratio
// is the cost of the S3 path itself (HTTP, signing, the SDK, the gateway), not of a
// network.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	checkpointfile "github.com/ddbtape/ddbtape/checkpoint/file"
	"github.com/ddbtape/ddbtape/internal/ddblocal"
	"github.com/ddbtape/ddbtape/internal/s3local"
	"github.com/ddbtape/ddbtape/replicator"
	"github.com/ddbtape/ddbtape/storage"
	"github.com/ddbtape/ddbtape/storage/dir"
	s3store "github.com/ddbtape/ddbtape/storage/s3"
	"github.com/ddbtape/ddbtape/writer"
)

var (
	restoreItems   = flag.Int("restore-items", 100_000, "snapshot items of the synthetic backup of BenchmarkRestoreToFileS3")
	restoreChanges = flag.Int("restore-changes", 500_000, "changes after the snapshot in the synthetic backup of BenchmarkRestoreToFileS3")
)

// startS3 starts a versitygw of the benchmark's own and returns it with a new bucket.
func startS3(b *testing.B) (*s3local.Server, string) {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	srv, err := s3local.Start(ctx)
	if err != nil {
		b.Fatalf("start versitygw: %v", err)
	}
	b.Cleanup(srv.Stop)
	return srv, srv.NewBucket(b)
}

// s3Bucket opens s3://bucket/prefix on srv with the client the CLI builds (storage/s3's
// retryer, path-style addressing).
func s3Bucket(srv *s3local.Server, bucket, prefix string) *s3store.Bucket {
	client := s3store.NewClient(srv.AWSConfig(), s3store.ClientOptions{PathStyle: true, Endpoint: srv.Endpoint})
	return s3store.New(client, bucket, prefix, s3store.Options{})
}

// cpuSeconds is the CPU time this process has used, user and system.
func cpuSeconds(b *testing.B) float64 {
	b.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// gatewayCPU returns the CPU seconds (user and system) the versitygw process serving srv
// has used so far, read from /proc: it is a child of this process that is never waited
// for, so getrusage does not count it. The process is found by its --port argument.
func gatewayCPU(b *testing.B, srv *s3local.Server) float64 {
	b.Helper()
	port := "127.0.0.1:" + strconv.Itoa(srv.Port)
	procs, err := filepath.Glob("/proc/[0-9]*/cmdline")
	if err != nil {
		b.Fatal(err)
	}
	for _, p := range procs {
		cmdline, err := os.ReadFile(p)
		if err != nil {
			continue // gone since the glob
		}
		args := strings.Split(string(cmdline), "\x00")
		if filepath.Base(args[0]) != "versitygw" || !slices.Contains(args, port) {
			continue
		}
		stat, err := os.ReadFile(filepath.Join(filepath.Dir(p), "stat"))
		if err != nil {
			b.Fatal(err)
		}
		// Fields after the command name: state is field 3, utime 14, stime 15.
		f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
		utime, err1 := strconv.ParseFloat(f[11], 64)
		stime, err2 := strconv.ParseFloat(f[12], 64)
		if err1 != nil || err2 != nil {
			b.Fatalf("%s: unexpected stat %q", p, stat)
		}
		return (utime + stime) / clockTicks
	}
	b.Fatalf("no versitygw process with argument %s in /proc", port)
	return 0
}

// clockTicks is USER_HZ, the unit of /proc/PID/stat times: 100 on every Linux platform Go
// supports without cgo to ask sysconf.
const clockTicks = 100

// drainTo runs the capture pipeline until it has read every record of the backlog and
// stored it in bucket, and returns the wall time and the CPU time of this process (the
// pipeline; DynamoDB Local and versitygw are other processes).
func drainTo(ctx context.Context, b *testing.B, inst *ddblocal.Instance, table string, want int, bucket storage.Bucket) (time.Duration, float64) {
	b.Helper()
	c, err := replicator.NewCapture(replicator.Config{
		Table:    table,
		Roll:     writer.DefaultRollPolicy(),
		SpoolDir: b.TempDir(),
		Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
	}, inst.DynamoDB(), inst.Streams(), bucket, checkpointfile.New(bucket, writer.CheckpointsPrefix(table)))
	if err != nil {
		b.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	cpu0, began := cpuSeconds(b), time.Now()
	done := make(chan error, 1)
	go func() { done <- c.Run(runCtx) }()
	for c.Stats().Records < int64(want) {
		select {
		case err := <-done:
			b.Fatalf("capture ended early: %v", err)
		case <-time.After(time.Millisecond):
		}
	}
	stop() // everything is read: store the last segment, checkpoint, return
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	return time.Since(began), cpuSeconds(b) - cpu0
}

// mustHoldRecords fails the benchmark unless the change segments of table in bucket hold
// want records in all.
func mustHoldRecords(ctx context.Context, b *testing.B, bucket storage.Bucket, table string, want int) {
	b.Helper()
	objs, err := bucket.List(ctx, writer.ChangesPrefix(table))
	if err != nil {
		b.Fatal(err)
	}
	n := 0
	for _, o := range objs {
		rc, err := bucket.Open(ctx, o.Key)
		if err != nil {
			b.Fatal(err)
		}
		data, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			b.Fatal(err)
		}
		changes, err := writer.ReadChanges(data)
		if err != nil {
			b.Fatalf("%s: %v", o.Key, err)
		}
		n += len(changes)
	}
	if n != want {
		b.Fatalf("capture stored %d records, want %d", n, want)
	}
}

// BenchmarkCaptureBacklogS3 captures the same stream backlog (-backlog records) in
// process into a directory and into versitygw, alternating which goes first. Figures:
// records/s and records per CPU-second of the pipeline for each (for S3 also counting
// versitygw's CPU, which competes for the same cores), and the S3/dir ratio of wall times.
func BenchmarkCaptureBacklogS3(b *testing.B) {
	ctx := context.Background()
	inst, table := freshTable(b, *backlog)
	srv, bucketName := startS3(b)
	b.ResetTimer()
	var dirWall, s3Wall time.Duration
	var dirCPU, s3CPU, gwCPU float64
	for i := 0; i < b.N; i++ {
		runDir := func() {
			d, err := dir.New(b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			w, c := drainTo(ctx, b, inst, table, *backlog, d)
			dirWall, dirCPU = dirWall+w, dirCPU+c
			mustHoldRecords(ctx, b, d, table, *backlog)
		}
		runS3 := func() {
			dest := s3Bucket(srv, bucketName, fmt.Sprintf("capture-%d/", i))
			gw := gatewayCPU(b, srv)
			w, c := drainTo(ctx, b, inst, table, *backlog, dest)
			s3Wall, s3CPU, gwCPU = s3Wall+w, s3CPU+c, gwCPU+gatewayCPU(b, srv)-gw
			mustHoldRecords(ctx, b, dest, table, *backlog)
		}
		if i%2 == 0 {
			runDir()
			runS3()
		} else {
			runS3()
			runDir()
		}
	}
	b.StopTimer()
	n := float64(b.N * *backlog)
	b.ReportMetric(n/dirWall.Seconds(), "dir-records/s")
	b.ReportMetric(n/s3Wall.Seconds(), "s3-records/s")
	b.ReportMetric(n/dirCPU, "dir-records/cpu-s")
	b.ReportMetric(n/s3CPU, "s3-records/cpu-s")
	b.ReportMetric(n/(s3CPU+gwCPU), "s3-records/cpu-s-with-gateway")
	b.ReportMetric(s3Wall.Seconds()/dirWall.Seconds(), "s3/dir-time")
}

// BenchmarkCaptureProcessS3 runs the ddbtape binary over the backlog into a directory and
// into versitygw, as a user would, and reports the peak RSS of each. Its throughput
// includes process start and the --until-idle wait.
func BenchmarkCaptureProcessS3(b *testing.B) {
	inst, table := freshTable(b, *backlog)
	srv, bucketName := startS3(b)
	bin := buildDdbtape(b)
	env := append(inst.Env(), srv.Env()...)
	b.ResetTimer()
	var dirWall, s3Wall time.Duration
	var dirRSS, s3RSS float64
	for i := 0; i < b.N; i++ {
		w, r := timed(b, env, bin, "capture", "--table", table, "--dest", b.TempDir(), "--until-idle", "1s", "--log-level", "warn")
		dirWall, dirRSS = dirWall+w, max(dirRSS, r)
		prefix := fmt.Sprintf("process-%d/", i)
		w, r = timed(b, env, bin, "capture", "--table", table, "--dest", "s3://"+bucketName+"/"+prefix, "--until-idle", "1s", "--log-level", "warn")
		s3Wall, s3RSS = s3Wall+w, max(s3RSS, r)
		mustHoldRecords(context.Background(), b, s3Bucket(srv, bucketName, prefix), table, *backlog)
	}
	b.StopTimer()
	n := float64(b.N * *backlog)
	b.ReportMetric(dirRSS, "dir-peak-rss-MB")
	b.ReportMetric(s3RSS, "s3-peak-rss-MB")
	b.ReportMetric(n/dirWall.Seconds(), "dir-records/s-incl-idle")
	b.ReportMetric(n/s3Wall.Seconds(), "s3-records/s-incl-idle")
}

// buildBenchtool builds internal/cmd/benchtool, which writes synthetic backups.
func buildBenchtool(b *testing.B) string {
	b.Helper()
	bin := filepath.Join(b.TempDir(), "benchtool")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/ddbtape/ddbtape/internal/cmd/benchtool").CombinedOutput(); err != nil {
		b.Fatalf("go build benchtool: %v\n%s", err, out)
	}
	return bin
}

// copyBucket copies every object of src into dst, four at a time.
func copyBucket(ctx context.Context, b *testing.B, src, dst storage.Bucket) (objects int, size int64) {
	b.Helper()
	objs, err := src.List(ctx, "")
	if err != nil {
		b.Fatal(err)
	}
	work := make(chan storage.Object)
	errs := make(chan error, 4)
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for o := range work {
				rc, err := src.Open(ctx, o.Key)
				if err == nil {
					err = dst.Create(ctx, o.Key, rc)
					rc.Close()
				}
				if err != nil {
					errs <- fmt.Errorf("copy %s: %w", o.Key, err)
					for range work { // let the sender finish
					}
					return
				}
			}
		}()
	}
	for _, o := range objs {
		work <- o
		size += o.Size
	}
	close(work)
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		b.Fatal(err)
	}
	return len(objs), size
}

// restoreRun is one restore --to-file as its own process.
type restoreRun struct {
	wall   time.Duration
	cpu    float64 // user + system seconds of the ddbtape process
	rssMB  float64
	digest [sha256.Size]byte // of the output file
	lines  int
}

func runRestore(b *testing.B, env []string, bin, source, tempDir string) restoreRun {
	b.Helper()
	out := filepath.Join(tempDir, "out.json")
	cmd := exec.Command("/usr/bin/time", "-f", "%e %U %S %M", "-o", filepath.Join(tempDir, "time"),
		bin, "restore", "--source", source, "--table", "bench", "--at", "latest", "--to-file", out, "--force", "--temp-dir", tempDir)
	cmd.Env = append(os.Environ(), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	began := time.Now()
	if err := cmd.Run(); err != nil {
		b.Fatalf("restore --source %s: %v\n%s", source, err, stderr.String())
	}
	r := restoreRun{wall: time.Since(began)}
	tm, err := os.ReadFile(filepath.Join(tempDir, "time"))
	if err != nil {
		b.Fatal(err)
	}
	var e, u, s float64
	var kb int64
	if _, err := fmt.Sscan(string(tm), &e, &u, &s, &kb); err != nil {
		b.Fatalf("/usr/bin/time output %q: %v", tm, err)
	}
	r.cpu, r.rssMB = u+s, float64(kb)/1024
	data, err := os.ReadFile(out)
	if err != nil {
		b.Fatal(err)
	}
	r.digest, r.lines = sha256.Sum256(data), bytes.Count(data, []byte("\n"))
	_ = os.Remove(out)
	return r
}

// BenchmarkRestoreToFileS3 writes a synthetic backup (-restore-items snapshot items and
// -restore-changes changes, internal/cmd/benchtool) into a directory, copies it into
// versitygw, and restores it to a file with the ddbtape binary from each, alternating
// which goes first. The two outputs must be the same bytes. Figures: backup rows (snapshot
// items + changes) read per second and per CPU-second of ddbtape (for S3 also counting
// versitygw's CPU, which competes for the same cores), peak RSS, and the S3/dir ratio of
// wall times.
func BenchmarkRestoreToFileS3(b *testing.B) {
	ctx := context.Background()
	bin, tool := buildDdbtape(b), buildBenchtool(b)
	backup := b.TempDir()
	gen := exec.Command(tool, "gen", "-dir", backup, "-table", "bench",
		"-items", strconv.Itoa(*restoreItems), "-changes", strconv.Itoa(*restoreChanges))
	if out, err := gen.CombinedOutput(); err != nil {
		b.Fatalf("benchtool gen: %v\n%s", err, out)
	}
	src, err := dir.New(backup)
	if err != nil {
		b.Fatal(err)
	}
	srv, bucketName := startS3(b)
	objects, size := copyBucket(ctx, b, src, s3Bucket(srv, bucketName, "backup/"))
	fmt.Fprintf(os.Stderr, "backup: %d snapshot items + %d changes, %d objects, %.1f MB, in %s and s3://%s/backup/\n",
		*restoreItems, *restoreChanges, objects, float64(size)/(1<<20), backup, bucketName)
	s3Source := "s3://" + bucketName + "/backup/"
	tempDir := b.TempDir()
	b.ResetTimer()
	var dirRuns, s3Runs []restoreRun
	gw0 := gatewayCPU(b, srv) // the gateway is idle during the directory runs
	for i := 0; i < b.N; i++ {
		if i%2 == 0 {
			dirRuns = append(dirRuns, runRestore(b, srv.Env(), bin, backup, tempDir))
			s3Runs = append(s3Runs, runRestore(b, srv.Env(), bin, s3Source, tempDir))
		} else {
			s3Runs = append(s3Runs, runRestore(b, srv.Env(), bin, s3Source, tempDir))
			dirRuns = append(dirRuns, runRestore(b, srv.Env(), bin, backup, tempDir))
		}
		if d, s := dirRuns[i], s3Runs[i]; d.digest != s.digest || d.lines != s.lines || d.lines == 0 {
			b.Fatalf("restore from S3 wrote %d lines (sha256 %x), from the directory %d lines (%x): they must be the same bytes", s.lines, s.digest[:8], d.lines, d.digest[:8])
		}
	}
	gwCPU := gatewayCPU(b, srv) - gw0
	b.StopTimer()
	sum := func(runs []restoreRun) (wall time.Duration, cpu, rss float64) {
		for _, r := range runs {
			wall, cpu, rss = wall+r.wall, cpu+r.cpu, max(rss, r.rssMB)
		}
		return
	}
	dWall, dCPU, dRSS := sum(dirRuns)
	sWall, sCPU, sRSS := sum(s3Runs)
	rows := float64(b.N * (*restoreItems + *restoreChanges))
	b.ReportMetric(rows/dWall.Seconds(), "dir-rows/s")
	b.ReportMetric(rows/sWall.Seconds(), "s3-rows/s")
	b.ReportMetric(rows/dCPU, "dir-rows/cpu-s")
	b.ReportMetric(rows/sCPU, "s3-rows/cpu-s")
	b.ReportMetric(rows/(sCPU+gwCPU), "s3-rows/cpu-s-with-gateway")
	b.ReportMetric(float64(b.N*dirRuns[0].lines)/dWall.Seconds(), "dir-items-out/s")
	b.ReportMetric(float64(b.N*s3Runs[0].lines)/sWall.Seconds(), "s3-items-out/s")
	b.ReportMetric(dRSS, "dir-peak-rss-MB")
	b.ReportMetric(sRSS, "s3-peak-rss-MB")
	b.ReportMetric(sWall.Seconds()/dWall.Seconds(), "s3/dir-time")
}
