package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"

	"github.com/ddbtape/ddbtape/internal/cli"
	"github.com/ddbtape/ddbtape/internal/fakestreams"
	"github.com/ddbtape/ddbtape/metrics"
	"github.com/ddbtape/ddbtape/writer"
)

// runInProcess runs one ddbtape command line in this process.
func runInProcess(ctx context.Context, args ...string) result {
	var stdout, stderr bytes.Buffer
	e := &cli.Env{Stdout: &stdout, Stderr: &stderr, Getenv: func(k string) string {
		if k == "TEST_BUCKET" {
			return "acme-backups"
		}
		return ""
	}}
	code := run(ctx, e, args)
	return result{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ddbtape.yaml")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestRun_RefusesABadConfigWithOneLineNamingTheField(t *testing.T) {
	t.Parallel()
	const base = "region: us-east-1\ndestination: s3://${TEST_BUCKET}/x\ntables:\n  - name: orders\n"
	cases := []struct {
		name string
		args []string
		want []string
	}{
		{"no config flag", []string{"run"}, []string{"--config is required"}},
		{"missing file", []string{"run", "--config", "/nonexistent/ddbtape.yaml"}, []string{"/nonexistent/ddbtape.yaml", "no such file"}},
		{"unknown key", []string{"run", "--config", writeConfig(t, base+"retension: 90d\n")}, []string{"retension: unknown key"}},
		{"missing table name", []string{"run", "--config", writeConfig(t, base+"  - start: latest\n")}, []string{"tables[1].name: required"}},
		{"bad duration", []string{"run", "--config", writeConfig(t, base+"retention: 9x\n")}, []string{`retention: "9x" is not a duration (use e.g. 90d, 36h)`}},
		{"bad address", []string{"run", "--config", writeConfig(t, base+"http: {address: localhost}\n")}, []string{"http.address"}},
		{"unset variable", []string{"run", "--config", writeConfig(t, base+"worker-id: ${NOT_SET_HERE}\n")}, []string{"NOT_SET_HERE is not set"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := runInProcess(context.Background(), c.args...)
			oneLine(t, r, 2, c.want...)
			if n := strings.Count(strings.TrimRight(r.stderr, "\n"), "\n"); n != 0 {
				t.Errorf("stderr has %d lines, want one:\n%s", n+1, r.stderr)
			}
		})
	}
}

func TestRun_CheckValidatesAndExitsZero(t *testing.T) {
	t.Parallel()
	path := writeConfig(t, "destination: s3://${TEST_BUCKET}/x\ntables:\n  - name: orders\n  - name: users\n")
	r := runInProcess(context.Background(), "run", "--config", path, "--check")
	if r.code != 0 || r.stdout != "config "+path+": ok: 2 tables (orders, users) to s3://acme-backups/x\n" {
		t.Errorf("run --check = %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
}

func TestRun_ATakenPortIsOneClearFailure(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	path := writeConfig(t, fmt.Sprintf("region: us-east-1\ndestination: %s\ntables:\n  - name: orders\nhttp: {address: %q}\n", t.TempDir(), ln.Addr().String()))
	r := runInProcess(context.Background(), "run", "--config", path)
	oneLine(t, r, 1, "http.address "+ln.Addr().String(), "address already in use")
}

// freeAddr returns a loopback address with a port nobody listens on right now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

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

// waitForHTTP polls url until it answers want, or fails the test after d.
func waitForHTTP(t *testing.T, url string, want int, d time.Duration, stderr *bytes.Buffer) string {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		code, body, err := httpGet(url)
		if err == nil && code == want {
			return body
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s: %d %q (%v), want %d within %s; ddbtape stderr:\n%s", url, code, body, err, want, d, stderr.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestRun_CapturesEveryTableServesProbesAndStopsCleanlyOnSIGTERM runs the binary as a
// sidecar would, against the fake Streams server: two tables, records on both, probes
// answered, and SIGTERM stores everything, checkpoints and exits 0.
func TestRun_CapturesEveryTableServesProbesAndStopsCleanlyOnSIGTERM(t *testing.T) {
	t.Parallel()
	fake := fakestreams.Start()
	defer fake.Close()
	tables := map[string]int{"orders": 25, "users": 7}
	for name, n := range tables {
		arn, err := fake.CreateTable(fakestreams.TableSpec{Name: name, StreamViewType: "NEW_AND_OLD_IMAGES"})
		if err != nil {
			t.Fatal(err)
		}
		shard := fakestreams.ShardID(len(name))
		if err := fake.AddShard(arn, shard, ""); err != nil {
			t.Fatal(err)
		}
		for i := range n {
			key := map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: fmt.Sprintf("%s-%d", name, i)}}
			if _, err := fake.AppendRecords(shard, fakestreams.Record{Keys: key, NewImage: key}); err != nil {
				t.Fatal(err)
			}
		}
	}
	dest := t.TempDir()
	spool := filepath.Join(t.TempDir(), "spool")
	addr := freeAddr(t)
	path := writeConfig(t, fmt.Sprintf(`
app-name: e2e
worker-id: ${WORKER}
region: us-east-1
endpoint-url: %s
destination: %s
spool-dir: %s
roll: {age: 1s}
tables:
  - name: orders
  - name: users
snapshot: {at-start-if-missing: false}
http: {address: %q}
shutdown-grace: 20s
log: {level: debug}
`, fake.URL(), dest, spool, addr))

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, ddbtapeBinary(t), "run", "--config", path)
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "WORKER=w-test",
		"AWS_ACCESS_KEY_ID=AKIDTEST", "AWS_SECRET_ACCESS_KEY=secret", "AWS_EC2_METADATA_DISABLED=true",
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.WaitDelay = 10 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			<-exited
		}
	}()

	base := "http://" + addr
	if body := waitForHTTP(t, base+metrics.PathHealthz, 200, 30*time.Second, &stderr); body != "ok\n" {
		t.Errorf("/healthz body %q", body)
	}
	waitForHTTP(t, base+metrics.PathReadyz, 200, 60*time.Second, &stderr)
	_, body, err := httpGet(base + metrics.PathMetrics)
	if err != nil || !regexp.MustCompile(`(?m)^ddbtape_info\{app="e2e",version="[^"]+",worker="w-test"\} 1$`).MatchString(body) {
		t.Errorf("/metrics (%v) lacks ddbtape_info for this worker:\n%.2000s", err, body)
	}

	// Wait until both tables' records are stored, then stop as Kubernetes would.
	deadline := time.Now().Add(60 * time.Second)
	for {
		o, _ := countSegmentRecords(dest, "orders")
		u, _ := countSegmentRecords(dest, "users")
		if o == tables["orders"] && u == tables["users"] {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("segments hold %d and %d records, want %d and %d; stderr:\n%s", o, u, tables["orders"], tables["users"], stderr.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("ddbtape run after SIGTERM: %v; stderr:\n%s", err, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("ddbtape run did not exit within its grace after SIGTERM; stderr:\n%s", stderr.String())
	}
	for name, n := range tables {
		recs, _ := segmentRecords(t, dest, name)
		if len(recs) != n {
			t.Errorf("table %s: %d records stored, want %d", name, len(recs), n)
		}
		if _, err := os.Stat(filepath.Join(dest, name, "checkpoints")); err != nil {
			t.Errorf("table %s: no checkpoints beside the data: %v", name, err)
		}
	}
	if !strings.Contains(stderr.String(), "ddbtape run stopped") {
		t.Errorf("no clean-stop log line; stderr:\n%s", stderr.String())
	}
	if entries, _ := os.ReadDir(spool); len(entries) != 0 {
		t.Errorf("spool %s not cleaned up: %d entries", spool, len(entries))
	}
}

// countSegmentRecords counts stored records without failing the test (for polling):
// a segment may be mid-rename while the capture runs.
func countSegmentRecords(dest, table string) (int, error) {
	n := 0
	err := filepath.WalkDir(filepath.Join(dest, table, "changes"), func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".parquet") {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		changes, err := writer.ReadChanges(data)
		n += len(changes)
		return err
	})
	return n, err
}
