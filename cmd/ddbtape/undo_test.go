package main

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/ddbtape/ddbtape/checkpoint"
	"github.com/ddbtape/ddbtape/ddbjson"
	"github.com/ddbtape/ddbtape/internal/backuptest"
	"github.com/ddbtape/ddbtape/internal/ddblocal"
	"github.com/ddbtape/ddbtape/storage/dir"
	"github.com/ddbtape/ddbtape/writer"
)

// tableModel is what a table with a partition key pk (S) holds: pk -> item.
type tableModel map[string]string

// liveBackup writes a backup of table holding a snapshot of initial at fixtureT0 and then
// changes (their order is their sequence), covered to fixtureT0 plus an hour, loads the
// live table (a DynamoDB Local table of that name) with the state after every change, and
// returns the backup's directory and that state.
func liveBackup(t *testing.T, db *dynamodb.Client, table string, initial tableModel, changes []writer.Change) (string, tableModel) {
	t.Helper()
	ctx := context.Background()
	root := t.TempDir()
	bucket, err := dir.New(root)
	if err != nil {
		t.Fatal(err)
	}
	b := &backuptest.Builder{Bucket: bucket, Table: table, SpoolDir: t.TempDir()}
	pks := slices.Sorted(maps.Keys(initial))
	if _, err := b.Snapshot(ctx, "snap-1", fixtureT0, fixtureT0.Add(time.Minute), len(pks), 4, func(i int) writer.SnapshotItem {
		return writer.SnapshotItem{Keys: fmt.Sprintf(`{"pk":{"S":%q}}`, pks[i]), Item: initial[pks[i]]}
	}); err != nil {
		t.Fatal(err)
	}
	final := maps.Clone(initial)
	var last writer.Change
	for i := range changes {
		c := &changes[i]
		c.TableName, c.StreamARN, c.ShardID, c.SequenceNumber = table, fixtureStream, "shardId-1", fmt.Sprint(100+i)
		c.CapturedAt = c.ApproximateCreationTime
		var m map[string]map[string]string
		if err := json.Unmarshal([]byte(c.Keys), &m); err != nil {
			t.Fatal(err)
		}
		if c.NewImage == nil {
			delete(final, m["pk"]["S"])
		} else {
			final[m["pk"]["S"]] = *c.NewImage
		}
		last = *c
	}
	if len(changes) > 0 {
		if _, err := b.Segment(ctx, changes); err != nil {
			t.Fatal(err)
		}
	}
	pos := checkpoint.Position{StreamARN: fixtureStream, ShardID: "shardId-1", CoveredFrom: fixtureT0.Add(-time.Hour), CoveredUntil: fixtureT0.Add(time.Hour)}
	if len(changes) > 0 {
		pos.SequenceNumber, pos.LastRecordTime = last.SequenceNumber, last.ApproximateCreationTime
	}
	if err := b.Checkpoint(ctx, []checkpoint.Position{pos}); err != nil {
		t.Fatal(err)
	}
	for _, item := range final {
		putBook(t, db, table, item)
	}
	return root, final
}

// change is a stored change of pk at fixtureT0 plus at: REMOVE when item is "".
func change(at time.Duration, event, pk, item string) writer.Change {
	c := writer.Change{EventID: event, EventName: "MODIFY", ApproximateCreationTime: fixtureT0.Add(at), Keys: fmt.Sprintf(`{"pk":{"S":%q}}`, pk), SizeBytes: 40}
	if item == "" {
		c.EventName = "REMOVE"
	} else {
		c.NewImage = &item
	}
	return c
}

func pkItem(pk, v string) string { return fmt.Sprintf(`{"pk":{"S":%q},"v":{"S":%q}}`, pk, v) }

// liveModel scans table into pk -> canonical item.
func liveModel(t *testing.T, db *dynamodb.Client, table string) tableModel {
	t.Helper()
	return scanTable(t, db, table)
}

func canonicalModel(t *testing.T, m tableModel) tableModel {
	t.Helper()
	out := tableModel{}
	for k, v := range m {
		c, err := ddbjson.Canonical(v)
		if err != nil {
			t.Fatal(err)
		}
		out[k] = c
	}
	return out
}

func diffModels(got, want tableModel) string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(want)) {
		if got[k] != want[k] {
			fmt.Fprintf(&b, "\n  %s: table holds %q, want %q", k, got[k], want[k])
		}
	}
	for _, k := range slices.Sorted(maps.Keys(got)) {
		if _, ok := want[k]; !ok {
			fmt.Fprintf(&b, "\n  %s: table holds %q, want none", k, got[k])
		}
	}
	return b.String()
}

func TestHistoryAndUndoEvent_ADeleteAndAnUpdateInTheSameSecondAsOtherWrites(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	db := ddblocal.Shared(t).DynamoDB()
	table := ddblocal.CreateTable(t, db, ddblocal.TableOptions{NoSortKey: true, NoStream: true})
	initial := tableModel{}
	for i := range 6 {
		pk := fmt.Sprintf("k%d", i)
		initial[pk] = pkItem(pk, "v0")
	}
	// At 10:10:07 the bad write deletes k2 and updates k1, in the same second as the
	// application writes k3 and k4; k5 is written later.
	src, final := liveBackup(t, db, table, initial, []writer.Change{
		change(10*time.Minute+7*time.Second, "ev-k3", "k3", pkItem("k3", "app")),
		change(10*time.Minute+7*time.Second, "ev-del", "k2", ""),
		change(10*time.Minute+7*time.Second, "ev-upd", "k1", `{"pk":{"S":"k1"},"v":{"S":"bad"},"extra":{"N":"1"}}`),
		change(10*time.Minute+7*time.Second, "ev-k4", "k4", pkItem("k4", "app")),
		change(20*time.Minute, "ev-k5", "k5", pkItem("k5", "later")),
	})

	// history shows both with their event ids, the key given in any attribute order.
	res := ddbtape(ctx, t, nil, "history", "--source", src, "--table", table, "--key", ` { "pk" : {"S":"k2"} } `, "--from", "2026-03-01T10:05:00Z")
	if res.code != 0 {
		t.Fatalf("history: exit %d: %s", res.code, res.stderr)
	}
	for _, s := range []string{`history of {"pk":{"S":"k2"}}`, "2026-03-01T10:05:00Z  base (snapshot snap-1", `item {"pk":{"S":"k2"},"v":{"S":"v0"}}`,
		"2026-03-01T10:10:07Z  REMOVE event ev-del  shard shardId-1  sequence 101", `- v: {"S":"v0"}`, "1 change"} {
		if !strings.Contains(res.stdout, s) {
			t.Errorf("history of k2 lacks %q:\n%s", s, res.stdout)
		}
	}
	res = ddbtape(ctx, t, nil, "history", "--source", src, "--table", table, "--key", `{"pk":{"S":"k1"}}`, "--json")
	var h struct {
		Versions []struct {
			Base    bool   `json:"base"`
			EventID string `json:"event_id"`
			Item    string `json:"item"`
			Changed []struct {
				Name, Op string
			} `json:"changed"`
		} `json:"versions"`
	}
	if err := json.Unmarshal([]byte(res.stdout), &h); err != nil || res.code != 0 {
		t.Fatalf("history --json: exit %d, %v: %s %s", res.code, err, res.stdout, res.stderr)
	}
	if len(h.Versions) != 2 || !h.Versions[0].Base || h.Versions[1].EventID != "ev-upd" || len(h.Versions[1].Changed) != 2 {
		t.Errorf("history of k1: %+v", h.Versions)
	}
	res = ddbtape(ctx, t, nil, "history", "--source", src, "--table", table, "--key", `{"id":{"S":"k1"}}`)
	if res.code != 2 || strings.Count(res.stderr, "\n") != 1 || !strings.Contains(res.stderr, "not a key of the table") {
		t.Errorf("history with a key of another attribute: exit %d: %s", res.code, res.stderr)
	}

	// undo --event ev-del without --yes: the plan, nothing written, exit 2.
	res = ddbtape(ctx, t, nil, "undo", "--source", src, "--table", table, "--event", "ev-del")
	if res.code != 2 || !strings.Contains(res.stdout, `+ {"pk":{"S":"k2"}}`) || !strings.Contains(res.stdout, "plan: 1 put (1 put back, 0 changed back), 0 deletes, 0 unchanged, 0 conflicts") {
		t.Errorf("undo without --yes: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	if got := liveModel(t, db, table); !maps.Equal(got, canonicalModel(t, final)) {
		t.Fatalf("undo without --yes wrote:%s", diffModels(got, canonicalModel(t, final)))
	}
	res = ddbtape(ctx, t, nil, "undo", "--source", src, "--table", table, "--event", "ev-del", "--yes")
	if res.code != 0 || !strings.Contains(res.stdout, "1 put, 0 deletes, 0 conflicts") {
		t.Fatalf("undo --event --yes: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	want := maps.Clone(final)
	want["k2"] = initial["k2"]
	if got := liveModel(t, db, table); !maps.Equal(got, canonicalModel(t, want)) {
		t.Errorf("after undo --event ev-del:%s", diffModels(got, canonicalModel(t, want)))
	}

	// An event id nobody wrote is one line.
	res = ddbtape(ctx, t, nil, "undo", "--source", src, "--table", table, "--event", "no-such-event", "--yes")
	if res.code != 2 || strings.Count(res.stderr, "\n") != 1 || !strings.Contains(res.stderr, "no change with that event id") {
		t.Errorf("undo of an unknown event: exit %d: %s", res.code, res.stderr)
	}
}

func TestUndoInterval_RestoresABadDeployButNotWhatWasWrittenAfter(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	db := ddblocal.Shared(t).DynamoDB()
	table := ddblocal.CreateTable(t, db, ddblocal.TableOptions{NoSortKey: true, NoStream: true})
	initial := tableModel{}
	for i := range 20 {
		pk := fmt.Sprintf("k%02d", i)
		initial[pk] = pkItem(pk, "good")
	}
	// 10:10:00-10:11:00 a bad deploy overwrites k00-k09, deletes k10 and inserts bad1;
	// meanwhile and afterwards the application writes k15 (before), k03 and k05.
	changes := []writer.Change{change(5*time.Minute, "app-0", "k15", pkItem("k15", "app"))}
	for i := range 10 {
		pk := fmt.Sprintf("k%02d", i)
		changes = append(changes, change(10*time.Minute+time.Duration(i)*5*time.Second, "bad-"+pk, pk, pkItem(pk, "bad")))
	}
	changes = append(changes,
		change(11*time.Minute, "bad-del", "k10", ""),
		change(11*time.Minute, "bad-ins", "bad1", pkItem("bad1", "bad")),
		change(15*time.Minute, "app-1", "k03", pkItem("k03", "app-after")),
		change(16*time.Minute, "app-2", "k05", ""),
	)
	src, final := liveBackup(t, db, table, initial, changes)
	// A write the backup has not captured yet.
	putBook(t, db, table, pkItem("k07", "app-uncaptured"))
	final["k07"] = pkItem("k07", "app-uncaptured")
	before := canonicalModel(t, final)

	args := []string{"undo", "--source", src, "--table", table, "--from", "2026-03-01T10:10:00Z", "--to", "2026-03-01T10:11:00Z"}
	res := ddbtape(ctx, t, nil, append(args, "--dry-run")...)
	if res.code != 0 || !strings.Contains(res.stdout, "plan: 8 puts (1 put back, 7 changed back), 1 delete, 0 unchanged, 3 conflicts") {
		t.Fatalf("undo --dry-run: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	for _, s := range []string{`! {"pk":{"S":"k03"}}: written again after: event app-1 at 2026-03-01T10:15:00Z`, `! {"pk":{"S":"k05"}}: written again after`,
		`! {"pk":{"S":"k07"}}: the table holds another item`, `- {"pk":{"S":"bad1"}}`, `+ {"pk":{"S":"k10"}}`, `~ {"pk":{"S":"k00"}}`} {
		if !strings.Contains(res.stdout, s) {
			t.Errorf("plan lacks %q:\n%s", s, res.stdout)
		}
	}
	if got := liveModel(t, db, table); !maps.Equal(got, before) {
		t.Fatalf("--dry-run wrote:%s", diffModels(got, before))
	}

	res = ddbtape(ctx, t, nil, append(args, "--yes")...)
	if res.code != 0 || !strings.Contains(res.stdout, "8 puts, 1 delete, 3 conflicts left alone") {
		t.Fatalf("undo --yes: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	want := maps.Clone(initial)
	want["k15"] = pkItem("k15", "app")
	want["k03"] = pkItem("k03", "app-after")
	delete(want, "k05")
	want["k07"] = pkItem("k07", "app-uncaptured")
	if got := liveModel(t, db, table); !maps.Equal(got, canonicalModel(t, want)) {
		t.Errorf("after undo of the bad deploy:%s", diffModels(got, canonicalModel(t, want)))
	}

	// The undo is itself undone by its restore log; status lists it.
	id := restoreLogID(t, res.stdout)
	st := ddbtape(ctx, t, nil, "status", "--source", src, "--table", table)
	if st.code != 0 || !strings.Contains(st.stdout, id) || !strings.Contains(st.stdout, "8 puts, 1 delete") {
		t.Errorf("status does not list restore log %s: exit %d\n%s%s", id, st.code, st.stdout, st.stderr)
	}
	res = ddbtape(ctx, t, nil, "undo", "--source", src, "--table", table, "--restore", id, "--yes")
	if res.code != 0 || !strings.Contains(res.stdout, "8 puts, 1 delete, 0 conflicts") {
		t.Fatalf("undo --restore: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	if got := liveModel(t, db, table); !maps.Equal(got, before) {
		t.Errorf("after undo --restore %s:%s", id, diffModels(got, before))
	}
}

// restoreLogID is the id in "restore log ID; to revert ...".
func restoreLogID(t *testing.T, stdout string) string {
	t.Helper()
	for _, l := range strings.Split(stdout, "\n") {
		if rest, ok := strings.CutPrefix(l, "restore log "); ok {
			id, _, _ := strings.Cut(rest, ";")
			return id
		}
	}
	t.Fatalf("no restore log id in:\n%s", stdout)
	return ""
}

func TestUndo_UsageMistakesExitTwo(t *testing.T) {
	src := bookBackup(t)
	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{[]string{"--source", src, "--table", "books"}, "exactly one of --event ID"},
		{[]string{"--source", src, "--table", "books", "--event", "e", "--restore", "r"}, "exactly one of --event ID"},
		{[]string{"--source", src, "--table", "books", "--from", "2026-03-01T10:00:00Z"}, "--from and --to go together"},
		{[]string{"--source", src, "--table", "books", "--from", "2026-03-01T10:10:00Z", "--to", "2026-03-01T10:00:00Z"}, "is before --from"},
		{[]string{"--source", src, "--table", "books", "--from", "yesterday", "--to", "2026-03-01T10:00:00Z"}, `--from "yesterday" is not a time`},
		{[]string{"--source", src, "--table", "books", "--event", "e", "--dry-run", "--yes"}, "--dry-run or --yes"},
	} {
		res := runCLI(t, append([]string{"undo"}, tc.args...)...)
		if res.code != 2 || !strings.Contains(res.stderr, tc.msg) || strings.Count(res.stderr, "\n") != 1 {
			t.Errorf("undo %v: exit %d, stderr %q; want 2 and %q", tc.args, res.code, res.stderr, tc.msg)
		}
	}
}
