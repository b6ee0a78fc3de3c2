package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ddbtape/ddbtape/catalog"
	"github.com/ddbtape/ddbtape/checkpoint"
	"github.com/ddbtape/ddbtape/internal/backuptest"
	"github.com/ddbtape/ddbtape/internal/cli"
	"github.com/ddbtape/ddbtape/storage/dir"
	"github.com/ddbtape/ddbtape/verify"
	"github.com/ddbtape/ddbtape/writer"
)

const fixtureStream = "arn:aws:dynamodb:us-east-1:123456789012:table/books/stream/2026-03-01T00:00:00.000"

var fixtureT0 = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

func bookItem(pk string, v int) string { return fmt.Sprintf(`{"pk":{"S":%q},"v":{"N":"%d"}}`, pk, v) }

func bookChange(table string, seq int, stamp time.Time, event, pk string, v int) writer.Change {
	c := writer.Change{TableName: table, StreamARN: fixtureStream, ShardID: "shardId-1", SequenceNumber: fmt.Sprint(seq),
		EventID: fmt.Sprint("e", seq), EventName: event, ApproximateCreationTime: stamp, CapturedAt: stamp,
		Keys: fmt.Sprintf(`{"pk":{"S":%q}}`, pk), SizeBytes: 50}
	if event != "REMOVE" {
		img := bookItem(pk, v)
		c.NewImage = &img
	}
	return c
}

// bookBackup writes a backup of table books into a new directory: a snapshot (10:00 to
// 10:01) of a0..a4 and b0..b4 (v=0), then a1=1 at 10:10, a2 removed at 10:20, c0 inserted
// at 10:30; covered until 11:00. It returns the directory.
func bookBackup(t *testing.T) string {
	t.Helper()
	return bookBackupOf(t, "books", nil)
}

// bookBackupOf is bookBackup for another table name, with shape adjusting the manifest.
func bookBackupOf(t *testing.T, table string, shape func(*writer.Manifest)) string {
	t.Helper()
	ctx := context.Background()
	root := t.TempDir()
	bucket, err := dir.New(root)
	if err != nil {
		t.Fatal(err)
	}
	b := &backuptest.Builder{Bucket: bucket, Table: table, SpoolDir: t.TempDir(), Shape: shape}
	pks := []string{"a0", "a1", "a2", "a3", "a4", "b0", "b1", "b2", "b3", "b4"}
	if _, err := b.Snapshot(ctx, "snap-1", fixtureT0, fixtureT0.Add(time.Minute), len(pks), 4, func(i int) writer.SnapshotItem {
		return writer.SnapshotItem{Keys: fmt.Sprintf(`{"pk":{"S":%q}}`, pks[i]), Item: bookItem(pks[i], 0)}
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Segment(ctx, []writer.Change{
		bookChange(table, 10, fixtureT0.Add(10*time.Minute), "MODIFY", "a1", 1),
		bookChange(table, 11, fixtureT0.Add(20*time.Minute), "REMOVE", "a2", 0),
		bookChange(table, 12, fixtureT0.Add(30*time.Minute), "INSERT", "c0", 7),
	}); err != nil {
		t.Fatal(err)
	}
	err = b.Checkpoint(ctx, []checkpoint.Position{{StreamARN: fixtureStream, ShardID: "shardId-1", CoveredFrom: fixtureT0.Add(-time.Hour),
		CoveredUntil: fixtureT0.Add(time.Hour), SequenceNumber: "12", LastRecordTime: fixtureT0.Add(30 * time.Minute)}})
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// runCLI runs one command line in process.
func runCLI(t *testing.T, args ...string) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	e := &cli.Env{Stdout: &stdout, Stderr: &stderr, Getenv: func(string) string { return "" }}
	code := run(context.Background(), e, args)
	return result{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

// readItems reads a --to-file output (gzipped or not) as sorted lines.
func readItems(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var r io.Reader = f
	if strings.HasSuffix(path, ".gz") {
		gz, err := gzip.NewReader(f)
		if err != nil {
			t.Fatal(err)
		}
		r = gz
	}
	data, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	slices.Sort(lines)
	return lines
}

func wantLines(kv ...any) []string {
	var out []string
	for i := 0; i < len(kv); i += 2 {
		out = append(out, `{"Item":`+bookItem(kv[i].(string), kv[i+1].(int))+`}`)
	}
	slices.Sort(out)
	return out
}

func TestRestoreToFile_WritesTheItemsAtEachTime(t *testing.T) {
	src := bookBackup(t)
	all := []any{"a0", 0, "a1", 0, "a2", 0, "a3", 0, "a4", 0, "b0", 0, "b1", 0, "b2", 0, "b3", 0, "b4", 0}
	tests := []struct {
		at   string
		file string
		want []string
	}{
		{"2026-03-01T10:01:00Z", "out.json", wantLines(all...)},
		{"2026-03-01T10:09:59Z", "out.json", wantLines(all...)},
		{"2026-03-01T10:10:00Z", "out.json.gz", wantLines(slices.Concat(all[:2], []any{"a1", 1}, all[4:])...)},
		{"2026-03-01T10:20:00+00:00", "out.json", wantLines(slices.Concat(all[:2], []any{"a1", 1}, all[6:])...)},
		{"2026-03-01T12:30:00+02:00", "out.json", wantLines(slices.Concat(all[:2], []any{"a1", 1}, all[6:], []any{"c0", 7})...)},
		{"latest", "out.json", wantLines(slices.Concat(all[:2], []any{"a1", 1}, all[6:], []any{"c0", 7})...)},
	}
	for _, tc := range tests {
		out := filepath.Join(t.TempDir(), tc.file)
		res := runCLI(t, "restore", "--source", src, "--table", "books", "--at", tc.at, "--to-file", out)
		if res.code != 0 {
			t.Fatalf("at %s: exit %d: %s", tc.at, res.code, res.stderr)
		}
		if got := readItems(t, out); !slices.Equal(got, tc.want) {
			t.Errorf("at %s: got\n%s\nwant\n%s", tc.at, strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
		}
		if !strings.Contains(res.stdout, fmt.Sprintf("restored %d items", len(tc.want))) {
			t.Errorf("at %s: stdout %q", tc.at, res.stdout)
		}
		if entries, _ := os.ReadDir(filepath.Dir(out)); len(entries) != 1 {
			t.Errorf("at %s: temporary files left beside the output: %v", tc.at, entries)
		}
	}
}

func TestRestore_LatestSaysWhichTimeItMeant(t *testing.T) {
	res := runCLI(t, "restore", "--source", bookBackup(t), "--table", "books", "--at", "now", "--to-file", filepath.Join(t.TempDir(), "o.json"))
	if res.code != 0 || !strings.Contains(res.stderr, "now is the end of the restorable window: 2026-03-01T11:00:00Z") {
		t.Errorf("exit %d, stderr %q", res.code, res.stderr)
	}
}

func TestRestoreToFile_NeverOverwritesWithoutForce(t *testing.T) {
	src := bookBackup(t)
	out := filepath.Join(t.TempDir(), "out.json")
	if err := os.WriteFile(out, []byte("precious\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	res := runCLI(t, "restore", "--source", src, "--table", "books", "--at", "latest", "--to-file", out)
	if res.code != 1 || !strings.Contains(res.stderr, "--force") {
		t.Errorf("exit %d, stderr %q", res.code, res.stderr)
	}
	if data, _ := os.ReadFile(out); string(data) != "precious\n" {
		t.Errorf("existing file changed to %q", data)
	}
	res = runCLI(t, "restore", "--source", src, "--table", "books", "--at", "latest", "--to-file", out, "--force")
	if res.code != 0 || len(readItems(t, out)) != 10 {
		t.Errorf("with --force: exit %d, stderr %q", res.code, res.stderr)
	}
}

func TestRestoreToFile_KeepsOnlyTheSelectedKeys(t *testing.T) {
	src := bookBackup(t)
	keys := filepath.Join(t.TempDir(), "keys.json")
	if err := os.WriteFile(keys, []byte(`{"pk":{"S":"a1"}}`+"\n"+`{"pk":{"S":"c0"}}`+"\n"+`{"pk":{"S":"zz"}}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "k.json")
	if res := runCLI(t, "restore", "--source", src, "--table", "books", "--at", "latest", "--to-file", out, "--keys", keys); res.code != 0 {
		t.Fatalf("--keys: exit %d: %s", res.code, res.stderr)
	}
	if got, want := readItems(t, out), wantLines("a1", 1, "c0", 7); !slices.Equal(got, want) {
		t.Errorf("--keys: got %v, want %v", got, want)
	}
	// a2 was deleted before latest, zz never existed: both are named.
	if err := os.WriteFile(keys, []byte(`{"pk":{"S":"a2"}}`+"\n"+`{"pk":{"S":"c0"}}`+"\n"+`{"pk":{"S":"zz"}}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	res := runCLI(t, "restore", "--source", src, "--table", "books", "--at", "latest", "--to-file", out, "--keys", keys, "--force")
	if want := `2 of the 3 keys asked for did not exist at 2026-03-01T11:00:00Z: {"pk":{"S":"a2"}}, {"pk":{"S":"zz"}}` + "\n"; res.code != 0 || !strings.Contains(res.stderr, want) {
		t.Errorf("--keys with absent keys: exit %d, stderr %q; want %q", res.code, res.stderr, want)
	}
	out = filepath.Join(t.TempDir(), "p.json")
	if res := runCLI(t, "restore", "--source", src, "--table", "books", "--at", "latest", "--to-file", out, "--key-prefix", "b"); res.code != 0 {
		t.Fatalf("--key-prefix: exit %d: %s", res.code, res.stderr)
	}
	if got, want := readItems(t, out), wantLines("b0", 0, "b1", 0, "b2", 0, "b3", 0, "b4", 0); !slices.Equal(got, want) {
		t.Errorf("--key-prefix: got %v, want %v", got, want)
	}
}

func TestRestore_TimeOutsideTheWindowIsOneLineNamingTheWindow(t *testing.T) {
	src := bookBackup(t)
	for _, at := range []string{"2026-03-01T09:59:00Z", "2026-03-01T11:00:01Z"} {
		out := filepath.Join(t.TempDir(), "o.json")
		res := runCLI(t, "restore", "--source", src, "--table", "books", "--at", at, "--to-file", out)
		if res.code != 1 {
			t.Errorf("at %s: exit %d, want 1", at, res.code)
		}
		if lines := strings.Split(strings.TrimSpace(res.stderr), "\n"); len(lines) != 1 || !strings.Contains(lines[0], "restorable window: 2026-03-01T10:01:00Z to 2026-03-01T11:00:00Z") {
			t.Errorf("at %s: stderr %q", at, res.stderr)
		}
		if _, err := os.Stat(out); err == nil {
			t.Errorf("at %s: output file written", at)
		}
	}
}

func TestRestore_UsageMistakesExitTwo(t *testing.T) {
	src := bookBackup(t)
	out := filepath.Join(t.TempDir(), "o.json")
	tests := []struct {
		args []string
		msg  string
	}{
		{[]string{"--table", "books", "--at", "now", "--to-file", out}, "--source is required"},
		{[]string{"--source", src, "--table", "books", "--to-file", out}, "--at is required"},
		{[]string{"--source", src, "--table", "books", "--at", "yesterday", "--to-file", out}, `--at "yesterday" is not a time`},
		{[]string{"--source", src, "--table", "books", "--at", "now"}, "exactly one of --to-table and --to-file"},
		{[]string{"--source", src, "--table", "books", "--at", "now", "--to-file", out, "--to-table", "xyz"}, "exactly one of --to-table and --to-file"},
		{[]string{"--source", src, "--table", "books", "--at", "now", "--to-file", out, "--create"}, "--create needs --to-table"},
		{[]string{"--source", src, "--table", "books", "--at", "now", "--to-table", "xyz", "--diff"}, "--diff needs --dry-run"},
		{[]string{"--source", src, "--table", "books", "--at", "now", "--to-file", out, "--keys", "k", "--key-prefix", "a"}, "at most one of --keys and --key-prefix"},
		{[]string{"--source", src, "--table", "books", "--at", "now", "--to-table", "xyz", "--create", "--yes"}, "--yes is for --to-table on an existing table"},
		{[]string{"--source", src, "--table", "books", "--at", "now", "--to-table", "xyz", "--unguarded"}, "--unguarded needs --yes"},
	}
	for _, tc := range tests {
		res := runCLI(t, append([]string{"restore"}, tc.args...)...)
		if res.code != 2 || !strings.Contains(res.stderr, tc.msg) || strings.Count(res.stderr, "\n") != 1 {
			t.Errorf("%v: exit %d, stderr %q, want 2 and %q", tc.args, res.code, res.stderr, tc.msg)
		}
	}
}

func TestRestore_MissingBackupSaysSo(t *testing.T) {
	res := runCLI(t, "restore", "--source", filepath.Join(t.TempDir(), "nothing"), "--table", "books", "--at", "now", "--to-file", filepath.Join(t.TempDir(), "o"))
	if res.code != 1 || !strings.Contains(res.stderr, "no backup directory there") {
		t.Errorf("exit %d, stderr %q", res.code, res.stderr)
	}
	res = runCLI(t, "restore", "--source", bookBackup(t), "--table", "other", "--at", "now", "--to-file", filepath.Join(t.TempDir(), "o"))
	if res.code != 1 || !strings.Contains(res.stderr, "no backup of table other") {
		t.Errorf("exit %d, stderr %q", res.code, res.stderr)
	}
}

func TestStatus_ShowsSnapshotsWindowsShardsAndGaps(t *testing.T) {
	src := bookBackup(t)
	bucket, err := dir.New(src)
	if err != nil {
		t.Fatal(err)
	}
	b := &backuptest.Builder{Bucket: bucket, Table: "books"}
	ctx := context.Background()
	if err := bucket.Put(ctx, writer.SnapshotDir("books", "snap-2")+"state/job.json", strings.NewReader("{}")); err != nil {
		t.Fatal(err)
	}
	if err := b.Checkpoint(ctx, nil, checkpoint.Gap{StreamARN: fixtureStream, ShardID: "shardId-1", From: fixtureT0.Add(40 * time.Minute), DetectedAt: fixtureT0.Add(50 * time.Minute), Reason: "records trimmed"}); err != nil {
		t.Fatal(err)
	}
	res := runCLI(t, "status", "--source", src, "--table", "books")
	if res.code != 0 {
		t.Fatalf("exit %d: %s", res.code, res.stderr)
	}
	for _, s := range []string{
		"restorable: earliest 2026-03-01T10:01:00Z, latest 2026-03-01T10:40:00Z",
		"window 2026-03-01T10:01:00Z to 2026-03-01T10:40:00Z (opened by snapshot snap-1)",
		"last captured change: 2026-03-01T10:30:00Z",
		"segments: 1",
		"snap-1", "complete", "snap-2", "incomplete",
		"coverage from: checkpoint store",
		"shardId-1", "2026-03-01T11:00:00Z", "open",
		"shard shardId-1 from 2026-03-01T10:40:00Z to 2026-03-01T10:50:00Z (trimmed): records trimmed",
		"verification: none recorded",
	} {
		if !strings.Contains(res.stdout, s) {
			t.Errorf("status lacks %q:\n%s", s, res.stdout)
		}
	}
	res = runCLI(t, "status", "--source", src, "--table", "books", "--json")
	var st catalog.Status
	if err := json.Unmarshal([]byte(res.stdout), &st); err != nil {
		t.Fatalf("--json: %v\n%s", err, res.stdout)
	}
	if len(st.Snapshots) != 2 || len(st.Windows) != 1 || !st.Latest.Equal(fixtureT0.Add(40*time.Minute)) || len(st.Shards) != 1 || len(st.Gaps) != 1 || st.Segments != 1 {
		t.Errorf("--json: %+v", st)
	}
}

func TestStatus_ShowsTheLastVerification(t *testing.T) {
	src := bookBackup(t)
	bucket, err := dir.New(src)
	if err != nil {
		t.Fatal(err)
	}
	rep := verify.Report{Table: "books", Result: verify.Fail, StartedAt: fixtureT0.Add(2 * time.Hour), FinishedAt: fixtureT0.Add(2*time.Hour + time.Minute),
		At: fixtureT0.Add(time.Hour), SnapshotID: "snap-1", Sample: 0.1, Segments: &verify.Segments{Total: 1000, First: 950, Count: 100},
		Compared: 12, Matching: 9, Different: 3, Expected: 2, Mismatches: 1, Examples: []verify.Mismatch{{Key: `{"pk":{"S":"a1"}}`, Kind: verify.Different}},
		LastPassAt: fixtureT0.Add(-22 * time.Hour)}
	if err := verify.WriteReport(context.Background(), bucket, rep); err != nil {
		t.Fatal(err)
	}
	res := runCLI(t, "status", "--source", src, "--table", "books")
	for _, s := range []string{
		"verification: FAIL, finished 2026-03-01T12:01:00Z (last pass: 2026-02-28T12:00:00Z)",
		"the backup at 2026-03-01T11:00:00Z (snapshot snap-1) against 10% of the key space (scan segments 950-49 of 1000): 12 items compared, 9 matching, 2 differing because of later writes, 1 mismatches",
		`mismatch: different {"pk":{"S":"a1"}}`,
	} {
		if !strings.Contains(res.stdout, s) {
			t.Errorf("status lacks %q:\n%s", s, res.stdout)
		}
	}
	res = runCLI(t, "status", "--source", src, "--table", "books", "--json")
	var st struct {
		catalog.Status
		Verification *verify.Report `json:"verification"`
	}
	if err := json.Unmarshal([]byte(res.stdout), &st); err != nil {
		t.Fatalf("--json: %v\n%s", err, res.stdout)
	}
	if st.Verification == nil || st.Verification.Result != verify.Fail || st.Verification.Mismatches != 1 || len(st.Windows) != 1 {
		t.Errorf("--json verification %+v, windows %d", st.Verification, len(st.Windows))
	}
}

// Mistakes a restore can see before it plans are said before it plans: a bad key file,
// an output directory that does not exist.
func TestRestore_ABadKeyFileOrAMissingOutputDirectoryIsRefusedBeforePlanning(t *testing.T) {
	src := bookBackup(t)
	keys := filepath.Join(t.TempDir(), "keys.json")
	if err := os.WriteFile(keys, []byte(`{"pk":{"S":"a1"},"sk":{"S":"x"}}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(t.TempDir(), "no", "such")
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--to-file", filepath.Join(t.TempDir(), "o.json"), "--keys", keys}, 2,
			"ddbtape restore: --keys " + keys + ": line 1: a key must have exactly the attributes pk, got pk, sk (see 'ddbtape restore -h')\n"},
		{[]string{"--to-file", filepath.Join(missing, "o.json")}, 1,
			"ddbtape restore: --to-file " + filepath.Join(missing, "o.json") + ": directory " + missing + " does not exist: create it, or write elsewhere\n"},
	} {
		res := runCLI(t, append([]string{"restore", "--source", src, "--table", "books", "--at", "latest"}, tc.args...)...)
		if res.code != tc.code || res.stderr != tc.want {
			t.Errorf("%v: exit %d, stderr %q; want %d and only %q", tc.args, res.code, res.stderr, tc.code, tc.want)
		}
	}
}
