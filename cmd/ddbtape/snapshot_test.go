package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ddbtape/ddbtape/internal/ddblocal"
	"github.com/ddbtape/ddbtape/internal/faultproxy"
	"github.com/ddbtape/ddbtape/internal/snapshottest"
	"github.com/ddbtape/ddbtape/storage/dir"
	"github.com/ddbtape/ddbtape/writer"
)

// snapshotTable makes a table without a stream holding n items of about size bytes and
// returns its name and full content (canonical key -> canonical item).
func snapshotTable(ctx context.Context, t *testing.T, n, size int) (string, map[string]string) {
	t.Helper()
	db := ddblocal.Shared(t).DynamoDB()
	table := ddblocal.CreateTable(t, db, ddblocal.TableOptions{NoStream: true})
	items := snapshottest.UniformItems(n, size)
	// A share of every attribute type, so the CLI path is checked on all of them.
	for i, it := range snapshottest.MixedItems(3, n/10) {
		for k, v := range snapshottest.Key(i * 10) {
			it[k] = v
		}
		items[i*10] = it
	}
	if err := snapshottest.Load(ctx, db, table, items); err != nil {
		t.Fatal(err)
	}
	want, err := snapshottest.ScanTable(ctx, db, table)
	if err != nil {
		t.Fatal(err)
	}
	return table, want
}

// checkStoredSnapshot reads snapshot id back from dest and compares it with the table.
func checkStoredSnapshot(ctx context.Context, t *testing.T, dest, table, id string, want map[string]string) {
	t.Helper()
	b, err := dir.New(dest)
	if err != nil {
		t.Fatal(err)
	}
	s, err := snapshottest.ReadSnapshot(ctx, b, table, id)
	if err != nil {
		t.Fatalf("read snapshot %s: %v", id, err)
	}
	for _, p := range s.Problems {
		t.Error(p)
	}
	for _, d := range snapshottest.Diff(s.Items, want, 10) {
		t.Error(d)
	}
}

// snapshotIDs lists the snapshot directories under dest for table.
func snapshotIDs(t *testing.T, dest, table string) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(dest, table, "snapshots"))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var ids []string
	for _, e := range entries {
		ids = append(ids, e.Name())
	}
	return ids
}

// storedRows sums the rows the segment states of a running snapshot record.
func storedRows(t *testing.T, snapDir string) int64 {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(snapDir, "state", "segment-*.json"))
	var rows int64
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		var st struct {
			Rows int64 `json:"rows"`
		}
		if json.Unmarshal(data, &st) == nil {
			rows += st.Rows
		}
	}
	return rows
}

func TestSnapshotCommand_KilledHalfWayThenResumedHoldsEveryItemOnce(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	const n = 4000
	table, want := snapshotTable(ctx, t, n, 1000)
	dest := t.TempDir()

	// Pages of 25 items cost about 3.5 units each: at 60 units/s the scan takes several
	// seconds, and with parts of 100 rows the state moves every four pages.
	cmd := ddbtapeCommand(ctx, t, nil, "snapshot", "--table", table, "--dest", dest,
		"--segments", "4", "--workers", "4", "--page-size", "25", "--part-rows", "100", "--max-rcu", "60")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var id string
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			t.Fatalf("no progress in the state files; stderr:\n%s", stderr.String())
		}
		if ids := snapshotIDs(t, dest, table); len(ids) == 1 {
			id = ids[0]
			if rows := storedRows(t, filepath.Join(dest, table, "snapshots", id)); rows >= n/4 {
				break
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	err := cmd.Wait()
	if ee, ok := err.(interface{ ExitCode() int }); !ok || ee.ExitCode() != -1 {
		t.Fatalf("snapshot ended before it was killed (%v): %s", err, stderr.String())
	}
	snapDir := filepath.Join(dest, table, "snapshots", id)
	if _, err := os.Stat(filepath.Join(snapDir, writer.ManifestName)); !os.IsNotExist(err) {
		t.Fatalf("killed snapshot has a manifest (%v)", err)
	}
	stored := storedRows(t, snapDir)
	if stored >= n {
		t.Fatalf("all %d items were stored before the kill: not half way", stored)
	}

	r := ddbtape(ctx, t, nil, "snapshot", "--table", table, "--dest", dest, "--resume", id)
	if r.code != 0 {
		t.Fatalf("resume exit %d: %s", r.code, r.stderr)
	}
	if strings.TrimSpace(r.stdout) != id {
		t.Errorf("resume printed %q on stdout, want the id %s", r.stdout, id)
	}
	if !strings.Contains(r.stderr, "resuming snapshot "+id) || !strings.Contains(r.stderr, "already stored") {
		t.Errorf("resume did not say what it continues:\n%s", r.stderr)
	}
	checkStoredSnapshot(ctx, t, dest, table, id, want)
	t.Logf("killed with %d of %d items stored", stored, n)
}

func TestSnapshotCommand_CompletesThroughThrottlingAndResetsAtTheProxy(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	table, want := snapshotTable(ctx, t, 1500, 500)
	proxy := faultproxy.Start(ddblocal.Shared(t).Endpoint)
	defer proxy.Close()
	proxy.Seed(3)
	proxy.Add(
		faultproxy.Rule{Op: "Scan", Fault: faultproxy.Throttling, Next: 2},
		faultproxy.Rule{Op: "Scan", Fault: faultproxy.ProvisionedThroughputExceeded, Rate: 0.15},
		faultproxy.Rule{Op: "Scan", Fault: faultproxy.InternalServerError, Rate: 0.1},
		faultproxy.Rule{Op: "Scan", Fault: faultproxy.ConnectionReset, Rate: 0.1},
	)
	dest := t.TempDir()
	r := ddbtape(ctx, t, nil, "snapshot", "--table", table, "--dest", dest, "--endpoint-url", proxy.URL(),
		"--segments", "3", "--page-size", "50")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if proxy.Injected("ThrottlingException") != 2 || proxy.Injected("ConnectionReset") == 0 || proxy.Injected("InternalServerError") == 0 {
		t.Errorf("faults injected %v: want throttles, 500s and resets", proxy.Counts())
	}
	if !strings.Contains(r.stderr, "retried ") {
		t.Errorf("stderr does not report the retries:\n%s", r.stderr)
	}
	checkStoredSnapshot(ctx, t, dest, table, strings.TrimSpace(r.stdout), want)
}

func TestSnapshotCommand_ReportsProgressAndPrintsTheID(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	table, want := snapshotTable(ctx, t, 600, 300)
	dest := t.TempDir()
	// 30 pages of 20 items of 300 bytes cost at least 30 read units. At --max-rcu 10 (ten
	// banked) the scan takes two seconds or more however fast DynamoDB Local answers, so
	// 50 ms progress reports must appear; at 100 the whole scan fitted in the banked burst
	// and could end before the first report.
	r := ddbtape(ctx, t, nil, "snapshot", "--table", table, "--dest", dest,
		"--page-size", "20", "--max-rcu", "10", "--progress-interval", "50ms")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	id := strings.TrimSpace(r.stdout)
	if ids := snapshotIDs(t, dest, table); len(ids) != 1 || ids[0] != id {
		t.Fatalf("stdout %q, snapshot directories %v", r.stdout, ids)
	}
	label := "snapshot " + table + ": "
	var lines, summaries int
	for _, line := range strings.Split(r.stderr, "\n") {
		switch {
		case strings.Contains(line, "\r") || strings.Contains(line, "\x1b"):
			t.Errorf("terminal control characters in a log: %q", line)
		case strings.HasPrefix(line, label+"done, 600 items"):
			summaries++
		case strings.HasPrefix(line, label) && strings.Contains(line, "items/s"):
			lines++
		}
	}
	if lines == 0 || summaries != 1 {
		t.Errorf("%d progress lines and %d summaries; want some and one:\n%s", lines, summaries, r.stderr)
	}
	if !strings.Contains(r.stderr, "snapshot "+id+" complete: 600 items") || !strings.Contains(r.stderr, "has no stream") {
		t.Errorf("no completion line or stream warning:\n%s", r.stderr)
	}
	checkStoredSnapshot(ctx, t, dest, table, id, want)
}

func TestSnapshotCommand_ErrorsAreOneLineWithTheirExitStatus(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	table, _ := snapshotTable(ctx, t, 30, 100)
	dest := t.TempDir()
	done := ddbtape(ctx, t, nil, "snapshot", "--table", table, "--dest", dest)
	if done.code != 0 {
		t.Fatalf("snapshot exit %d: %s", done.code, done.stderr)
	}
	complete := strings.TrimSpace(done.stdout)

	// An incomplete snapshot: every Scan is throttled until the retry bound passes.
	proxy := faultproxy.Start(ddblocal.Shared(t).Endpoint)
	defer proxy.Close()
	proxy.Add(faultproxy.Rule{Op: "Scan", Fault: faultproxy.ProvisionedThroughputExceeded, Rate: 1})
	failed := ddbtape(ctx, t, nil, "snapshot", "--table", table, "--dest", dest, "--endpoint-url", proxy.URL(), "--retry-bound", "1s")
	lines := strings.Split(strings.TrimSuffix(failed.stderr, "\n"), "\n")
	last := lines[len(lines)-1]
	if failed.code != 1 || !strings.HasPrefix(last, "ddbtape snapshot: snapshot ") || !strings.Contains(last, "gave up retrying") ||
		!strings.Contains(last, "ProvisionedThroughputExceededException") || !strings.Contains(last, "no manifest written") {
		t.Fatalf("throttled snapshot: exit %d, stderr:\n%s\nwant exit 1 and a last line saying it gave up and how to resume", failed.code, failed.stderr)
	}
	var incomplete string
	for _, id := range snapshotIDs(t, dest, table) {
		if id != complete {
			incomplete = id
		}
	}
	if !strings.Contains(last, "--resume "+incomplete) {
		t.Errorf("last line %q does not say --resume %s", last, incomplete)
	}
	aFile := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(aFile, nil, 0o644); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"unknown table", []string{"--table", "no-such-table", "--dest", dest}, 1, "table no-such-table: table not found"},
		{"unwritable destination", []string{"--table", table, "--dest", filepath.Join(aFile, "backups")}, 1, "is not writable"},
		{"resume of an id that does not exist", []string{"--table", table, "--dest", dest, "--resume", "20200101T000000Z-abcd"}, 1, "no such snapshot to resume"},
		{"resume of a complete snapshot", []string{"--table", table, "--dest", dest, "--resume", complete}, 1, "already complete"},
		{"resume of something that is not an id", []string{"--table", table, "--dest", dest, "--resume", "../x"}, 2, "is not a snapshot id"},
		{"resume with another segment count", []string{"--table", table, "--dest", dest, "--resume", incomplete, "--segments", "9"}, 2, "keeps the segment count"},
		{"no table", []string{"--dest", dest}, 2, "--table is required"},
		{"no destination", []string{"--table", table}, 2, "--dest is required"},
		{"negative segments", []string{"--table", table, "--dest", dest, "--segments", "-1"}, 2, "--segments must be"},
		{"no workers", []string{"--table", table, "--dest", dest, "--workers", "0"}, 2, "--workers must be"},
		{"negative rcu", []string{"--table", table, "--dest", dest, "--max-rcu", "-5"}, 2, "--max-rcu must be"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := ddbtape(ctx, t, nil, append([]string{"snapshot"}, tt.args...)...)
			if r.code != tt.code {
				t.Errorf("exit %d, want %d; stderr:\n%s", r.code, tt.code, r.stderr)
			}
			msg := strings.TrimSuffix(r.stderr, "\n")
			if strings.Contains(msg, "\n") || !strings.HasPrefix(msg, "ddbtape snapshot: ") || !strings.Contains(msg, tt.want) {
				t.Errorf("stderr %q; want one line \"ddbtape snapshot: ...%s...\"", r.stderr, tt.want)
			}
			if r.stdout != "" {
				t.Errorf("stdout %q on failure", r.stdout)
			}
		})
	}
}
