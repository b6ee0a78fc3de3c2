package main

import (
	"context"
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/ddbtape/ddbtape/ddbjson"
	"github.com/ddbtape/ddbtape/internal/ddblocal"
	"github.com/ddbtape/ddbtape/internal/workload"
)

// End to end on DynamoDB Local, through capture and snapshot: a delete and an update of
// two keys stamped with writes to other keys; history shows both with their event ids, and
// undo --event brings back exactly the deleted item.
func TestHistoryAndUndoEndToEnd_CapturedDeleteIsUndoneByItsEventID(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	inst := ddblocal.Shared(t)
	db := inst.DynamoDB()
	table := ddblocal.CreateTable(t, db, ddblocal.TableOptions{NamePrefix: "e2e-undo"})
	streamARN := ddblocal.StreamARN(t, db, table)
	dest := t.TempDir()
	w := workload.New(db, table, 5, 30)
	if err := w.Run(ctx, 60); err != nil {
		t.Fatal(err)
	}
	// One capture at the end reads the stream from its trim horizon, so it covers the
	// snapshot from before it started.
	capture := []string{"capture", "--table", table, "--dest", dest, "--endpoint-url", inst.Endpoint, "--poll-interval", "200ms", "--until-idle", "3s"}
	if res := ddbtape(ctx, t, nil, "snapshot", "--table", table, "--dest", dest, "--endpoint-url", inst.Endpoint); res.code != 0 {
		t.Fatalf("snapshot: exit %d: %s", res.code, res.stderr)
	}
	var finished time.Time
	for _, s := range mustSnapshots(t, dest, table) {
		finished = s
	}

	// DynamoDB Local stamps records to the minute: the writes to undo must carry a stamp
	// after the snapshot finished, so the application writes until they do.
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	for {
		if err := w.Step(ctx); err != nil {
			t.Fatal(err)
		}
		newest, err := newestStamp(ctx, inst.Streams(), streamARN)
		if err != nil {
			t.Fatal(err)
		}
		if newest.After(finished) {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		case <-tick.C:
		}
	}
	if err := w.Run(ctx, 10); err != nil { // writes to other keys, stamped with the two below
		t.Fatal(err)
	}
	model := w.Snapshot()
	keys := slices.Sorted(maps.Keys(model))
	deleted, updated := keys[0], keys[1]
	if _, err := db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(table), Key: mustItem(t, deleted)}); err != nil {
		t.Fatal(err)
	}
	newB := canonicalJSON(t, strings.TrimSuffix(model[updated], "}")+`,"bad":{"S":"deploy"}}`)
	if _, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: mustItem(t, newB)}); err != nil {
		t.Fatal(err)
	}
	final := maps.Clone(model)
	delete(final, deleted)
	final[updated] = newB
	if res := ddbtape(ctx, t, nil, capture...); res.code != 0 {
		t.Fatalf("capture: exit %d: %s", res.code, res.stderr)
	}

	eventOf := func(key, event string) string {
		t.Helper()
		res := ddbtape(ctx, t, nil, "history", "--source", dest, "--table", table, "--key", key, "--json")
		var h struct {
			Versions []struct {
				EventName string `json:"event_name"`
				EventID   string `json:"event_id"`
			} `json:"versions"`
		}
		if err := json.Unmarshal([]byte(res.stdout), &h); err != nil || res.code != 0 {
			t.Fatalf("history %s: exit %d, %v\n%s%s", key, res.code, err, res.stdout, res.stderr)
		}
		last := h.Versions[len(h.Versions)-1]
		if last.EventName != event || last.EventID == "" {
			t.Fatalf("history of %s does not end with the test's %s:\n%s", key, event, res.stdout)
		}
		return last.EventID
	}
	delEvent, updEvent := eventOf(deleted, "REMOVE"), eventOf(updated, "MODIFY")
	t.Logf("deleted %s by %s, updated %s by %s", deleted, delEvent, updated, updEvent)

	res := ddbtape(ctx, t, nil, "undo", "--source", dest, "--table", table, "--event", delEvent, "--yes")
	if res.code != 0 || !strings.Contains(res.stdout, "1 put, 0 deletes, 0 conflicts") {
		t.Fatalf("undo --event: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	want := maps.Clone(final)
	want[deleted] = model[deleted]
	live, err := workload.ScanAll(ctx, db, table)
	if err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(live, want) {
		t.Errorf("after undo --event %s:%s", delEvent, diffModels(live, want))
	}
	res = ddbtape(ctx, t, nil, "undo", "--source", dest, "--table", table, "--event", updEvent, "--dry-run")
	if res.code != 0 || !strings.Contains(res.stdout, "~ "+updated) {
		t.Errorf("undo --event %s --dry-run: exit %d\n%s%s", updEvent, res.code, res.stdout, res.stderr)
	}
}

func mustItem(t *testing.T, s string) map[string]types.AttributeValue {
	t.Helper()
	m, err := ddbjson.ToDynamoDB(s)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// mustSnapshots is the finish of every complete snapshot's manifest under dest.
func mustSnapshots(t *testing.T, dest, table string) []time.Time {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(dest, table, "snapshots", "*", "manifest.json"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no snapshot manifest under %s (%v)", dest, err)
	}
	var out []time.Time
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		var m struct {
			FinishedAt time.Time `json:"finished_at"`
		}
		if err := json.Unmarshal(data, &m); err != nil {
			t.Fatal(err)
		}
		out = append(out, m.FinishedAt)
	}
	return out
}
