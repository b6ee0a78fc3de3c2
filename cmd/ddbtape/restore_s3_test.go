package main

import (
	"bufio"
	"compress/gzip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ddbtape/ddbtape/ddbjson"
	"github.com/ddbtape/ddbtape/internal/duckdb"
	"github.com/ddbtape/ddbtape/restore"
)

// dirImportLines reads every data file under a --to-s3 directory as sorted lines, and
// checks each partition's manifest against the files.
func dirImportLines(t *testing.T, root string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(root, "data", "*.json.gz"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no data files under %s: %v", root, err)
	}
	var lines []string
	for _, name := range files {
		f, err := os.Open(name)
		if err != nil {
			t.Fatal(err)
		}
		gz, err := gzip.NewReader(f)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		sc := bufio.NewScanner(gz)
		for sc.Scan() {
			lines = append(lines, sc.Text())
		}
		f.Close()
		if sc.Err() != nil {
			t.Fatal(sc.Err())
		}
	}
	manifests, _ := filepath.Glob(filepath.Join(root, "manifest*.json"))
	var listed int
	var items int64
	for _, name := range manifests {
		data, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		m, err := restore.DecodeImportManifest(data)
		if err != nil {
			t.Fatal(err)
		}
		listed += len(m.Files)
		items += m.Items
	}
	if listed != len(files) || items != int64(len(lines)) {
		t.Errorf("manifests list %d files and %d items; the directory holds %d files and %d items", listed, items, len(files), len(lines))
	}
	slices.Sort(lines)
	return lines
}

// duckdbItems reads the files under a --to-s3 directory with DuckDB's read_json and
// returns each Item, canonical DynamoDB JSON, sorted.
func duckdbItems(t *testing.T, root string) []string {
	t.Helper()
	rows, err := duckdb.Query(t.Context(), "SELECT CAST(Item AS VARCHAR) AS item FROM read_json("+
		duckdb.Quote(filepath.Join(root, "data", "*.json.gz"))+", format = 'newline_delimited', columns = {'Item': 'JSON'})")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range rows {
		c, err := ddbjson.Canonical(r["item"].(string))
		if err != nil {
			t.Fatalf("DuckDB gave item %v: %v", r["item"], err)
		}
		out = append(out, c)
	}
	slices.Sort(out)
	return out
}

// canonicalItems takes {"Item":...} lines to their items, canonical, sorted.
func canonicalItems(t *testing.T, lines []string) []string {
	t.Helper()
	var out []string
	for _, l := range lines {
		it, ok := strings.CutPrefix(l, `{"Item":`)
		if !ok {
			t.Fatalf("line %q", l)
		}
		c, err := ddbjson.Canonical(strings.TrimSuffix(it, "}"))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, c)
	}
	slices.Sort(out)
	return out
}

// The files of --to-s3 into a directory, whole or in three partitions, hold the items
// --to-file writes, read back by gzip and by DuckDB's read_json.
func TestRestoreToS3_FilesReadBackEqualTheFileRestore(t *testing.T) {
	src := wideBackup(t, 900)
	out := t.TempDir()
	want := fileRestore(t, src, "latest")

	whole := filepath.Join(out, "whole")
	res := runCLI(t, "restore", "--source", src, "--table", "books", "--at", "latest", "--to-s3", whole)
	if res.code != 0 {
		t.Fatalf("--to-s3: exit %d: %s", res.code, res.stderr)
	}
	if !strings.Contains(res.stdout, "restored 690 items of books") || !strings.Contains(res.stdout, "aws dynamodb import-table --s3-bucket-source '{\"S3Bucket\":\"BUCKET\",\"S3KeyPrefix\":\"PREFIX/data/\"}'") ||
		!strings.Contains(res.stdout, `"TableName":"books-restored"`) {
		t.Errorf("stdout %q", res.stdout)
	}
	if got := dirImportLines(t, whole); !slices.Equal(got, want) {
		t.Errorf("--to-s3 files hold %d items, --to-file %d (or they differ)", len(got), len(want))
	}
	if got := duckdbItems(t, whole); !slices.Equal(got, canonicalItems(t, want)) {
		t.Errorf("DuckDB reads %d items from the --to-s3 files, --to-file holds %d (or they differ)", len(got), len(want))
	}

	// Again into the same place: refused, one line; with --force replaced.
	res = runCLI(t, "restore", "--source", src, "--table", "books", "--at", "latest", "--to-s3", whole)
	if res.code != 1 || !strings.Contains(res.stderr, "holds a finished restore already") || strings.Count(strings.TrimSpace(res.stderr), "\n") > 2 {
		t.Errorf("a second --to-s3: exit %d: %s", res.code, res.stderr)
	}
	if res := runCLI(t, "restore", "--source", src, "--table", "books", "--at", "latest", "--to-s3", whole, "--force"); res.code != 0 {
		t.Errorf("--force: exit %d: %s", res.code, res.stderr)
	}

	parts := filepath.Join(out, "parts")
	for _, p := range []string{"0/3", "1/3", "2/3"} {
		res := runCLI(t, "restore", "--source", src, "--table", "books", "--at", "latest", "--to-s3", parts, "--partition", p)
		if res.code != 0 || !strings.Contains(res.stdout, "(partition "+p+")") || !strings.Contains(res.stdout, "once every partition's manifest is there") {
			t.Fatalf("--to-s3 --partition %s: exit %d: %s %s", p, res.code, res.stdout, res.stderr)
		}
	}
	if got := dirImportLines(t, parts); !slices.Equal(got, want) {
		t.Errorf("the partitions' files hold %d items, --to-file %d (or they differ)", len(got), len(want))
	}
	if got := duckdbItems(t, parts); !slices.Equal(got, canonicalItems(t, want)) {
		t.Errorf("DuckDB reads %d items from the partitions' files, --to-file holds %d", len(got), len(want))
	}
}

func TestRestoreToS3_UsageMistakesExitTwo(t *testing.T) {
	src := bookBackup(t)
	base := []string{"restore", "--source", src, "--table", "books", "--at", "latest"}
	for _, args := range [][]string{
		{"--to-s3", t.TempDir(), "--to-file", "x.json"},
		{"--to-s3", t.TempDir(), "--to-table", "books2"},
		{"--to-table", "books2", "--via", "import", "--to-s3", "s3://b/p/"},
		{"--to-table", "books2", "--create", "--via", "import", "--to-s3", t.TempDir()},
		{"--to-table", "books2", "--create", "--via", "import"},
		{"--to-table", "books2", "--create", "--via", "magic", "--to-s3", "s3://b/p/"},
		{"--to-table", "books2", "--create", "--via", "import", "--to-s3", "s3://b/p/", "--partition", "0/2"},
		{"--to-s3", t.TempDir(), "--file-size", "12"},
		{"--to-s3", t.TempDir(), "--file-size", "lots"},
		{"--to-s3", t.TempDir(), "--keys", "k.json", "--key-prefix", "a"},
		{"--to-s3", t.TempDir(), "--create"},
	} {
		res := runCLI(t, append(slices.Clone(base), args...)...)
		if res.code != 2 || strings.Count(strings.TrimSpace(res.stderr), "\n") > 1 || strings.Contains(res.stderr, "goroutine") {
			t.Errorf("%v: exit %d, stderr %q", args, res.code, res.stderr)
		}
	}
}
