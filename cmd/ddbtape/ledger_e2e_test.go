package main

import (
	"context"
	"encoding/json"
	"maps"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/ddbtape/ddbtape/internal/ddblocal"
	"github.com/ddbtape/ddbtape/internal/workload"
)

// The destination alone proves what it can restore: a backup whose checkpoints lived in
// a DynamoDB table restores after that table is gone, with no --checkpoint.
func TestLedgerEndToEnd_RestoresAfterTheCheckpointTableIsGone(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	inst := ddblocal.Shared(t)
	db := inst.DynamoDB()
	table := ddblocal.CreateTable(t, db, ddblocal.TableOptions{NamePrefix: "e2e-ledger"})
	checkpoints := table + "-checkpoints"
	w := workload.New(db, table, 11, 60)
	if err := w.Run(ctx, 80); err != nil {
		t.Fatal(err)
	}
	dest := t.TempDir()
	capture := func() {
		t.Helper()
		res := ddbtape(ctx, t, nil, "capture", "--table", table, "--dest", dest, "--checkpoint", "dynamodb://"+checkpoints, "--create-checkpoint-table",
			"--until-idle", "2s", "--poll-interval", "200ms", "--endpoint-url", inst.Endpoint)
		if res.code != 0 {
			t.Fatalf("capture: exit %d: %s", res.code, res.stderr)
		}
	}
	capture()
	if res := ddbtape(ctx, t, nil, "snapshot", "--table", table, "--dest", dest, "--endpoint-url", inst.Endpoint); res.code != 0 {
		t.Fatalf("snapshot: exit %d: %s", res.code, res.stderr)
	}
	if err := w.Run(ctx, 80); err != nil {
		t.Fatal(err)
	}
	capture()
	if _, err := db.DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: aws.String(checkpoints)}); err != nil {
		t.Fatal(err)
	}

	res := ddbtape(ctx, t, nil, "status", "--source", dest, "--table", table)
	if res.code != 0 || !strings.Contains(res.stdout, "restorable: earliest") || !strings.Contains(res.stdout, "coverage from: ledger") {
		t.Fatalf("status without the checkpoint table: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	out := filepath.Join(t.TempDir(), "latest.json")
	res = ddbtape(ctx, t, nil, "restore", "--source", dest, "--table", table, "--at", "latest", "--to-file", out)
	if res.code != 0 {
		t.Fatalf("restore --at latest without the checkpoint table: exit %d: %s", res.code, res.stderr)
	}
	live, err := workload.ScanAll(ctx, db, table)
	if err != nil {
		t.Fatal(err)
	}
	if got := readRestoredFile(t, out); !maps.Equal(got, live) {
		t.Fatalf("restore --at latest: %s", diffStates(got, live))
	}
}

// A table snapshotted before it had a stream: no restore may silently return a wrong
// state. Each either equals the table at that time, or refuses with one line saying why
// and what to do; the stream-less snapshot restores alone with --snapshot.
func TestLedgerEndToEnd_StreamEnabledAfterASnapshotNeverRestoresWrong(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	inst := ddblocal.Shared(t)
	db := inst.DynamoDB()
	table := ddblocal.CreateTable(t, db, ddblocal.TableOptions{NamePrefix: "e2e-nostream", NoStream: true})
	w := workload.New(db, table, 12, 40)
	if err := w.Run(ctx, 60); err != nil {
		t.Fatal(err)
	}
	dest := t.TempDir()
	res := ddbtape(ctx, t, nil, "snapshot", "--table", table, "--dest", dest, "--endpoint-url", inst.Endpoint)
	if res.code != 0 || !strings.Contains(res.stderr, "has no stream") {
		t.Fatalf("snapshot of a table without a stream: exit %d (want 0 and a warning): %s", res.code, res.stderr)
	}
	atS0 := w.Snapshot()
	s0 := completeSnapshotIDs(ctx, t, dest, table)[0]
	if err := w.Run(ctx, 40); err != nil { // in no stream
		t.Fatal(err)
	}
	if _, err := db.UpdateTable(ctx, &dynamodb.UpdateTableInput{TableName: aws.String(table),
		StreamSpecification: &types.StreamSpecification{StreamEnabled: aws.Bool(true), StreamViewType: types.StreamViewTypeNewAndOldImages}}); err != nil {
		t.Fatal(err)
	}
	if err := w.Run(ctx, 40); err != nil {
		t.Fatal(err)
	}
	capture := func() {
		t.Helper()
		res := ddbtape(ctx, t, nil, "capture", "--table", table, "--dest", dest, "--until-idle", "2s", "--poll-interval", "200ms", "--endpoint-url", inst.Endpoint)
		if res.code != 0 {
			t.Fatalf("capture: exit %d: %s", res.code, res.stderr)
		}
	}
	capture()

	// Only the stream-less snapshot: every time is refused, with the reason and the remedy.
	for _, at := range []string{"latest", time.Now().UTC().Add(-time.Minute).Format(time.RFC3339)} {
		out := filepath.Join(t.TempDir(), "r.json")
		res := ddbtape(ctx, t, nil, "restore", "--source", dest, "--table", table, "--at", at, "--to-file", out)
		if res.code != 1 || strings.Count(res.stderr, "\n") != 1 || !strings.Contains(res.stderr, "before the table's stream existed") ||
			!strings.Contains(res.stderr, "take a snapshot") {
			t.Errorf("restore --at %s with only a stream-less snapshot: exit %d, stderr %q; want 1 and one line saying why and what to do", at, res.code, res.stderr)
		}
	}
	out := filepath.Join(t.TempDir(), "alone.json")
	if res := ddbtape(ctx, t, nil, "restore", "--source", dest, "--table", table, "--snapshot", s0, "--to-file", out); res.code != 0 {
		t.Fatalf("restore --snapshot %s: exit %d: %s", s0, res.code, res.stderr)
	}
	if got := readRestoredFile(t, out); !maps.Equal(got, atS0) {
		t.Fatalf("restore --snapshot %s: %s", s0, diffStates(got, atS0))
	}
	if res := ddbtape(ctx, t, nil, "status", "--source", dest, "--table", table); !strings.Contains(res.stdout, "restore it alone with --snapshot "+s0) {
		t.Errorf("status does not say how to restore the stream-less snapshot:\n%s", res.stdout)
	}

	// A snapshot taken once the stream is captured opens a window that restores exactly.
	if res := ddbtape(ctx, t, nil, "snapshot", "--table", table, "--dest", dest, "--endpoint-url", inst.Endpoint); res.code != 0 {
		t.Fatalf("snapshot: exit %d: %s", res.code, res.stderr)
	}
	if err := w.Run(ctx, 30); err != nil {
		t.Fatal(err)
	}
	capture()
	out = filepath.Join(t.TempDir(), "latest.json")
	if res := ddbtape(ctx, t, nil, "restore", "--source", dest, "--table", table, "--at", "latest", "--to-file", out); res.code != 0 {
		t.Fatalf("restore --at latest after a snapshot with the stream: exit %d: %s", res.code, res.stderr)
	}
	live, err := workload.ScanAll(ctx, db, table)
	if err != nil {
		t.Fatal(err)
	}
	if got := readRestoredFile(t, out); !maps.Equal(got, live) {
		t.Fatalf("restore --at latest: %s", diffStates(got, live))
	}
}

// completeSnapshotIDs are the complete snapshots of a backup, oldest finish first.
func completeSnapshotIDs(ctx context.Context, t *testing.T, dest, table string) []string {
	t.Helper()
	res := ddbtape(ctx, t, nil, "status", "--source", dest, "--table", table, "--json")
	if res.code != 0 {
		t.Fatalf("status: exit %d: %s", res.code, res.stderr)
	}
	var st struct {
		Snapshots []struct {
			ID       string `json:"id"`
			Complete bool   `json:"complete"`
		} `json:"snapshots"`
	}
	if err := json.Unmarshal([]byte(res.stdout), &st); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, s := range st.Snapshots {
		if s.Complete {
			ids = append(ids, s.ID)
		}
	}
	if len(ids) == 0 {
		t.Fatalf("no complete snapshot: %s", res.stdout)
	}
	return ids
}
