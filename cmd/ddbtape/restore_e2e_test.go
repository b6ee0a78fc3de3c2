package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	streamtypes "github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"

	"github.com/ddbtape/ddbtape/ddbjson"
	"github.com/ddbtape/ddbtape/internal/ddblocal"
	"github.com/ddbtape/ddbtape/internal/workload"
)

// stampedModel drives a workload and remembers, for each stamp minute M, the table as a
// restore --at M must return it. DynamoDB Local stamps records to the minute (rounded
// down), so --at M includes every write made before M+1min: the state just before the
// boundary M+1min. Writes pause for a moment around every boundary, so that a write's
// stamp is rarely in doubt; when a slow answer carries one across a boundary anyway (a
// busy machine), the stream tells which minute it got.
type stampedModel struct {
	w *workload.Workload
	// lastStamp returns the stamp DynamoDB gave the table's newest stream record.
	lastStamp func(context.Context) (time.Time, error)

	mu      sync.Mutex
	byStamp map[int64]map[string]string // stamp minute M (Unix seconds) -> state at M
	writes  int
}

// boundaryGuard is how long before a minute boundary writes stop and after it they resume.
const boundaryGuard = 700 * time.Millisecond

// run writes every interval until ctx ends or until is reached.
func (m *stampedModel) run(ctx context.Context, interval time.Duration, until time.Time) error {
	for {
		now := time.Now()
		if !now.Before(until) {
			return nil
		}
		next := now.Truncate(time.Minute).Add(time.Minute)
		if next.Sub(now) < boundaryGuard {
			// Everything written so far is stamped at most next-1min: record that state.
			state := m.w.Snapshot()
			m.mu.Lock()
			m.byStamp[next.Add(-time.Minute).Unix()] = state
			m.mu.Unlock()
			if err := sleepUntil(ctx, next.Add(boundaryGuard)); err != nil {
				return err
			}
			continue
		}
		before := m.w.Snapshot()
		if err := m.w.Step(ctx); err != nil {
			return err
		}
		if minute := now.Truncate(time.Minute); !time.Now().Truncate(time.Minute).Equal(minute) {
			if err := m.straddled(ctx, minute, before); err != nil {
				return err
			}
		}
		m.mu.Lock()
		m.writes++
		m.mu.Unlock()
		if err := sleepUntil(ctx, now.Add(interval)); err != nil {
			return err
		}
	}
}

// straddled records the state at minute after a write that began in it and ended after
// it: the state before the write, or after it if the stream stamped the write in minute.
func (m *stampedModel) straddled(ctx context.Context, minute time.Time, before map[string]string) error {
	state := m.w.Snapshot()
	if !maps.Equal(before, state) { // the write changed the table, so it has a record
		stamp, err := m.lastStamp(ctx)
		if err != nil {
			return fmt.Errorf("a write crossed the minute boundary after %s: read its stamp: %w", minute.Format(time.TimeOnly), err)
		}
		if stamp.After(minute) {
			state = before
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.byStamp[minute.Unix()] = state
	return nil
}

// newestStamp returns the ApproximateCreationDateTime of the newest record of a stream.
func newestStamp(ctx context.Context, api *dynamodbstreams.Client, streamARN string) (time.Time, error) {
	var newest time.Time
	var start *string
	for {
		out, err := api.DescribeStream(ctx, &dynamodbstreams.DescribeStreamInput{StreamArn: &streamARN, ExclusiveStartShardId: start})
		if err != nil {
			return time.Time{}, err
		}
		for _, sh := range out.StreamDescription.Shards {
			it, err := api.GetShardIterator(ctx, &dynamodbstreams.GetShardIteratorInput{StreamArn: &streamARN, ShardId: sh.ShardId, ShardIteratorType: streamtypes.ShardIteratorTypeTrimHorizon})
			if err != nil {
				return time.Time{}, err
			}
			for iter := it.ShardIterator; iter != nil; {
				page, err := api.GetRecords(ctx, &dynamodbstreams.GetRecordsInput{ShardIterator: iter})
				if err != nil {
					return time.Time{}, err
				}
				for _, r := range page.Records {
					if at := aws.ToTime(r.Dynamodb.ApproximateCreationDateTime); at.After(newest) {
						newest = at
					}
				}
				if len(page.Records) == 0 {
					break // the open shard's tip
				}
				iter = page.NextShardIterator
			}
		}
		if start = out.StreamDescription.LastEvaluatedShardId; start == nil {
			return newest, nil
		}
	}
}

func (m *stampedModel) at(stamp time.Time) (map[string]string, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.byStamp[stamp.Unix()]
	return s, ok
}

func sleepUntil(ctx context.Context, t time.Time) error {
	d := time.Until(t)
	if d <= 0 {
		return nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// readRestoredFile reads a --to-file output: canonical key JSON -> canonical item JSON.
func readRestoredFile(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<22)
	for sc.Scan() {
		line := sc.Text()
		inner, ok := strings.CutPrefix(line, `{"Item":`)
		if !ok || !strings.HasSuffix(inner, "}") {
			t.Fatalf("%s: line is not {\"Item\":...}: %.100s", path, line)
		}
		item, err := ddbjson.ToDynamoDB(strings.TrimSuffix(inner, "}"))
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		k := workload.KeyOf(item)
		if _, dup := out[k]; dup {
			t.Fatalf("%s: key %s twice", path, k)
		}
		out[k] = workload.MustCanonical(item)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// diffStates describes how got differs from want, briefly.
func diffStates(got, want map[string]string) string {
	var missing, extra, different int
	example := ""
	for k, w := range want {
		g, ok := got[k]
		switch {
		case !ok:
			missing++
			if example == "" {
				example = "missing " + k
			}
		case g != w:
			different++
			if example == "" {
				example = fmt.Sprintf("different %s: got %.200s want %.200s", k, g, w)
			}
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			extra++
			if example == "" {
				example = "extra " + k
			}
		}
	}
	return fmt.Sprintf("%d items, want %d: %d missing, %d extra, %d different; e.g. %s", len(got), len(want), missing, extra, different, example)
}

// TestRestoreEndToEnd_CaptureSnapshotRestoreVerify runs the end-to-end scenario (see
// restoreEndToEnd) with a local directory as the destination.
func TestRestoreEndToEnd_CaptureSnapshotRestoreVerify(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	restoreEndToEnd(ctx, t, t.TempDir(), nil)
}

// restoreEndToEnd runs the real binary against DynamoDB Local, with env added to its
// environment and dest as --dest and --source: capture tails the stream while a workload
// writes and a snapshot is taken mid-way; writes go on across two minute boundaries after
// the snapshot. Restores at each boundary must equal the model, into a file, into new
// tables and into the existing table; verify must pass, then fail after a write the backup
// has not seen. It returns the table's name.
func restoreEndToEnd(ctx context.Context, t *testing.T, dest string, env []string) string {
	inst := ddblocal.Shared(t)
	db := inst.DynamoDB()
	table := ddblocal.CreateTable(t, db, ddblocal.TableOptions{NamePrefix: "e2e-restore"})
	streamARN := ddblocal.StreamARN(t, db, table)
	model := &stampedModel{w: workload.New(db, table, 7, 120), byStamp: map[int64]map[string]string{},
		lastStamp: func(ctx context.Context) (time.Time, error) { return newestStamp(ctx, inst.Streams(), streamARN) }}

	// No --until-idle while writes go on: a pause in the writes (a busy machine) would end
	// the capture early. It is stopped once the writes are done; a second capture then
	// reads what is left and ends when idle.
	captureArgs := []string{"capture", "--table", table, "--dest", dest, "--endpoint-url", inst.Endpoint, "--poll-interval", "200ms"}
	capture := ddbtapeCommand(ctx, t, env, captureArgs...)
	var captureOut strings.Builder
	capture.Stdout, capture.Stderr = &captureOut, &captureOut
	if err := capture.Start(); err != nil {
		t.Fatal(err)
	}

	// Writes run in the background until the end is known; until then, "forever".
	var (
		endMu  sync.Mutex
		end    = time.Now().Add(5 * time.Minute)
		runErr = make(chan error, 1)
	)
	writeUntil := func() time.Time { endMu.Lock(); defer endMu.Unlock(); return end }
	go func() {
		for {
			u := writeUntil()
			if err := model.run(ctx, 40*time.Millisecond, minTime(u, time.Now().Add(time.Second))); err != nil {
				runErr <- err
				return
			}
			if !time.Now().Before(writeUntil()) {
				runErr <- nil
				return
			}
		}
	}()

	// A snapshot while capture runs and writes go on.
	time.Sleep(4 * time.Second)
	res := ddbtape(ctx, t, env, "snapshot", "--table", table, "--dest", dest, "--endpoint-url", inst.Endpoint)
	if res.code != 0 {
		t.Fatalf("snapshot: exit %d: %s", res.code, res.stderr)
	}
	st := statusOf(ctx, t, env, dest, table)
	if len(st.snapshots) != 1 {
		t.Fatalf("status lists %d snapshots: %s", len(st.snapshots), st.raw)
	}
	finished := st.snapshots[0]
	b1 := finished.Truncate(time.Minute).Add(time.Minute)
	b2 := b1.Add(time.Minute)
	endMu.Lock()
	end = b2.Add(5 * time.Second) // writes cross b1 and b2
	endMu.Unlock()
	t.Logf("snapshot finished %s; boundaries %s and %s; writes until %s", finished.Format(time.TimeOnly), b1.Format(time.TimeOnly), b2.Format(time.TimeOnly), writeUntil().Format(time.TimeOnly))
	if err := <-runErr; err != nil {
		t.Fatalf("workload: %v", err)
	}
	if err := capture.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := capture.Wait(); err != nil {
		t.Fatalf("capture after SIGTERM: %v\n%s", err, captureOut.String())
	}
	if res := ddbtape(ctx, t, env, append(captureArgs, "--until-idle", "3s")...); res.code != 0 {
		t.Fatalf("capture --until-idle after the writes: exit %d: %s", res.code, res.stderr)
	}
	final := model.w.Snapshot()
	t.Logf("%d writes; %d items at the end", model.writes, len(final))

	// The restore points: each boundary (what was written before the next one), a second
	// before b1 when the snapshot allows it (before b1), and latest (everything).
	type point struct {
		at   string
		want map[string]string
	}
	var points []point
	stateB1, ok1 := model.at(b1) // written before b2
	if !ok1 {
		t.Fatalf("no model state recorded at %s", b1)
	}
	points = append(points, point{b1.Format(time.RFC3339), stateB1})
	points = append(points, point{b2.Format(time.RFC3339), final}) // writes stopped before b2+1min
	if before := b1.Add(-time.Second); !before.Before(finished) {
		s, ok := model.at(b1.Add(-time.Minute))
		if !ok {
			t.Fatalf("no model state recorded at %s", b1.Add(-time.Minute))
		}
		points = append(points, point{before.Format(time.RFC3339), s})
	}
	points = append(points, point{"latest", final})

	// verify: the backup equals the table; then a write it has not seen.
	if res := ddbtape(ctx, t, env, "verify", "--source", dest, "--table", table); res.code != 0 {
		t.Fatalf("verify: exit %d\n%s\n%s", res.code, res.stdout, res.stderr)
	}

	// Files and new tables, at every point, in parallel.
	var wg sync.WaitGroup
	for i, p := range points {
		wg.Add(2)
		go func() {
			defer wg.Done()
			out := filepath.Join(t.TempDir(), "restore.json")
			res := ddbtape(ctx, t, env, "restore", "--source", dest, "--table", table, "--at", p.at, "--to-file", out)
			if res.code != 0 {
				t.Errorf("restore --at %s --to-file: exit %d: %s", p.at, res.code, res.stderr)
				return
			}
			if got := readRestoredFile(t, out); !maps.Equal(got, p.want) {
				t.Errorf("restore --at %s --to-file: %s", p.at, diffStates(got, p.want))
			}
		}()
		go func() {
			defer wg.Done()
			target := fmt.Sprintf("%s-r%d", table, i)
			t.Cleanup(func() {
				db.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: aws.String(target)})
			})
			res := ddbtape(ctx, t, env, "restore", "--source", dest, "--table", table, "--at", p.at, "--to-table", target, "--create")
			if res.code != 0 {
				t.Errorf("restore --at %s --to-table --create: exit %d: %s", p.at, res.code, res.stderr)
				return
			}
			got, err := workload.ScanAll(ctx, db, target)
			if err != nil {
				t.Error(err)
				return
			}
			if !maps.Equal(got, p.want) {
				t.Errorf("restore --at %s --to-table --create: %s", p.at, diffStates(got, p.want))
			}
		}()
	}
	wg.Wait()

	if err := model.w.Step(ctx); err != nil {
		t.Fatal(err)
	}
	if res := ddbtape(ctx, t, env, "verify", "--source", dest, "--table", table); res.code != 1 {
		t.Errorf("verify after an unseen write: exit %d, want 1\n%s\n%s", res.code, res.stdout, res.stderr)
	}

	// More writes, then the existing table goes back to b1.
	if err := model.w.Run(ctx, 60); err != nil {
		t.Fatal(err)
	}
	res = ddbtape(ctx, t, env, "restore", "--source", dest, "--table", table, "--at", b1.Format(time.RFC3339), "--to-table", table, "--yes")
	if res.code != 0 {
		t.Fatalf("restore into the existing table: exit %d: %s", res.code, res.stderr)
	}
	got, err := workload.ScanAll(ctx, db, table)
	if err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(got, stateB1) {
		t.Errorf("existing table after restore --at %s: %s", b1.Format(time.TimeOnly), diffStates(got, stateB1))
	}
	return table
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// backupStatus is what the end-to-end test reads from status --json.
type backupStatus struct {
	snapshots []time.Time // finish times of complete snapshots
	raw       string
}

func statusOf(ctx context.Context, t *testing.T, env []string, dest, table string) backupStatus {
	t.Helper()
	res := ddbtape(ctx, t, env, "status", "--source", dest, "--table", table, "--json")
	if res.code != 0 {
		t.Fatalf("status: exit %d: %s", res.code, res.stderr)
	}
	var st struct {
		Snapshots []struct {
			Complete   bool      `json:"complete"`
			FinishedAt time.Time `json:"finished_at"`
		} `json:"snapshots"`
	}
	if err := json.Unmarshal([]byte(res.stdout), &st); err != nil {
		t.Fatalf("status --json: %v\n%s", err, res.stdout)
	}
	out := backupStatus{raw: res.stdout}
	for _, s := range st.Snapshots {
		if s.Complete {
			out.snapshots = append(out.snapshots, s.FinishedAt)
		}
	}
	return out
}
