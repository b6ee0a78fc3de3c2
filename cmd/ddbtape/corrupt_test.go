package main

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/ddbtape/ddbtape/ddbjson"
	"github.com/ddbtape/ddbtape/internal/ddblocal"
	"github.com/ddbtape/ddbtape/internal/workload"
	"github.com/ddbtape/ddbtape/writer"
)

// corruptBackup is a healthy backup of a table that no longer changes: a snapshot in
// several parts and segments before and after it, captured to the end. Part of the table
// was written before its stream was enabled, so those items exist in the snapshot's parts
// only (otherwise the replay, which reaches back a stamp unit, a minute on DynamoDB
// Local, before the snapshot, would hold every item too and a lost part would change
// nothing).
type corruptBackup struct {
	dir, table string
	model      map[string]string
}

func newCorruptBackup(ctx context.Context, t *testing.T) corruptBackup {
	t.Helper()
	db := ddblocal.Shared(t).DynamoDB()
	table := ddblocal.CreateTable(t, db, ddblocal.TableOptions{NamePrefix: "corrupt", NoStream: true})
	dir := t.TempDir()
	w := workload.New(db, table, 5, 200)
	enableStream := func() result {
		_, err := db.UpdateTable(ctx, &dynamodb.UpdateTableInput{TableName: aws.String(table),
			StreamSpecification: &types.StreamSpecification{StreamEnabled: aws.Bool(true), StreamViewType: types.StreamViewTypeNewAndOldImages}})
		if err != nil {
			return result{code: 1, stderr: err.Error()}
		}
		ddblocal.StreamARN(t, db, table)
		return result{}
	}
	capture := []string{"capture", "--table", table, "--dest", dir, "--until-idle", "2s", "--roll-records", "40", "--poll-interval", "100ms"}
	steps := []func() result{
		func() result { return result{code: errCode(w.Run(ctx, 250))} },
		enableStream,
		func() result { return result{code: errCode(w.Run(ctx, 100))} },
		func() result { return ddbtape(ctx, t, nil, capture...) },
		func() result {
			return ddbtape(ctx, t, nil, "snapshot", "--table", table, "--dest", dir, "--part-rows", "40")
		},
		func() result { return result{code: errCode(w.Run(ctx, 150))} },
		func() result { return ddbtape(ctx, t, nil, capture...) },
	}
	for i, step := range steps {
		if r := step(); r.code != 0 {
			t.Fatalf("building the backup, step %d: exit %d: %s", i, r.code, r.stderr)
		}
	}
	b := corruptBackup{dir: dir, table: table, model: w.Snapshot()}
	// The healthy backup restores to the model and verifies: what the cases break is theirs.
	out := filepath.Join(t.TempDir(), "healthy.json")
	if r := ddbtape(ctx, t, nil, "restore", "--source", dir, "--table", table, "--at", "latest", "--to-file", out); r.code != 0 {
		t.Fatalf("healthy restore: exit %d: %s", r.code, r.stderr)
	}
	if got := readRestoredFile(t, out); !sameStates(got, b.model) {
		t.Fatalf("healthy restore differs from the model: %s", diffStates(got, b.model))
	}
	if r := ddbtape(ctx, t, nil, "verify", "--source", dir, "--table", table); r.code != 0 {
		t.Fatalf("healthy verify: exit %d: %s%s", r.code, r.stdout, r.stderr)
	}
	// Every segment capture wrote has its checksum in the ledger: none is unrecorded.
	if r := ddbtape(ctx, t, nil, "verify", "--objects", "--source", dir, "--table", table); r.code != 0 ||
		strings.Contains(r.stdout, "without a recorded checksum") || !strings.Contains(r.stdout, "0 damaged, 0 missing") {
		t.Fatalf("healthy verify --objects: exit %d: %s%s", r.code, r.stdout, r.stderr)
	}
	return b
}

func errCode(err error) int {
	if err != nil {
		return 1
	}
	return 0
}

// copy returns a private copy of the backup for one case to damage.
func (b corruptBackup) copy(t *testing.T) string {
	t.Helper()
	dst := t.TempDir()
	err := filepath.WalkDir(b.dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(b.dir, path)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

// lastSegment is the newest segment's path: one every restore at latest replays.
func lastSegment(t *testing.T, dir, table string) string {
	t.Helper()
	keys := listSegments(t, dir, table)
	if len(keys) == 0 {
		t.Fatal("no segment in the backup")
	}
	sort.Slice(keys, func(i, j int) bool {
		a, _ := writer.ParseSegmentKey(keys[i])
		b, _ := writer.ParseSegmentKey(keys[j])
		return a.LastSeq < b.LastSeq
	})
	return filepath.Join(dir, filepath.FromSlash(keys[len(keys)-1]))
}

// snapshotPart is the path of part n of the backup's only snapshot.
func snapshotPart(t *testing.T, dir, table string, n int) string {
	t.Helper()
	manifests, _ := filepath.Glob(filepath.Join(dir, table, "snapshots", "*", writer.ManifestName))
	if len(manifests) != 1 {
		t.Fatalf("want one snapshot, found manifests %v", manifests)
	}
	part := filepath.Join(filepath.Dir(manifests[0]), writer.PartName(n))
	if _, err := os.Stat(part); err != nil {
		t.Fatalf("snapshot has no part %d: %v", n, err)
	}
	return part
}

// foreignParquet is a valid Parquet file with another schema than ddbtape's.
func foreignParquet(t *testing.T) []byte {
	t.Helper()
	schema := arrow.NewSchema([]arrow.Field{{Name: "id", Type: arrow.PrimitiveTypes.Int64}, {Name: "note", Type: arrow.BinaryTypes.String}}, nil)
	rb := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	defer rb.Release()
	rb.Field(0).(*array.Int64Builder).AppendValues([]int64{1, 2, 3}, nil)
	rb.Field(1).(*array.StringBuilder).AppendValues([]string{"a", "b", "c"}, nil)
	rec := rb.NewRecordBatch()
	defer rec.Release()
	var buf bytes.Buffer
	fw, err := pqarrow.NewFileWriter(schema, &buf, parquet.NewWriterProperties(), pqarrow.DefaultWriterProps())
	if err != nil {
		t.Fatal(err)
	}
	if err := fw.Write(rec); err != nil {
		t.Fatal(err)
	}
	if err := fw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// corruption picks one file of a backup copy and damages it.
type corruption struct {
	name   string
	target func(t *testing.T, dir, table string) string
	damage func(t *testing.T, path string)
	// says is what the error line must say besides the file's path.
	says string
}

func (c corruption) apply(t *testing.T, dir, table string) string {
	t.Helper()
	p := c.target(t, dir, table)
	c.damage(t, p)
	return p
}

// Capture records every segment's size and SHA-256 in the ledger, so a damaged segment is
// refused by its checksum before Parquet sees it (replay's tests cover segments written
// before those facts, which only decoding can judge).
var corruptions = []corruption{
	{"segment with a flipped bit", lastSegment, func(t *testing.T, p string) {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		data[len(data)/2] ^= 0x01 // same size, other content
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}, "the ledger recorded"},
	{"truncated segment", lastSegment, func(t *testing.T, p string) {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Truncate(p, fi.Size()/2); err != nil {
			t.Fatal(err)
		}
	}, "bytes, the ledger recorded"},
	{"segment replaced by another Parquet file", lastSegment, func(t *testing.T, p string) {
		if err := os.WriteFile(p, foreignParquet(t), 0o644); err != nil {
			t.Fatal(err)
		}
	}, "the ledger recorded"},
	{"snapshot part whose SHA-256 no longer matches", firstPart, func(t *testing.T, p string) {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		data[len(data)/2] ^= 0x01 // same size, other content
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}, "SHA-256"},
	{"missing snapshot part", secondPart, func(t *testing.T, p string) {
		if err := os.Remove(p); err != nil {
			t.Fatal(err)
		}
	}, "missing"},
}

func firstPart(t *testing.T, dir, table string) string  { return snapshotPart(t, dir, table, 0) }
func secondPart(t *testing.T, dir, table string) string { return snapshotPart(t, dir, table, 1) }

// TestCorruptStore_RestoreAndVerifyNameTheFileAndRefuse damages one file of a healthy
// backup per case. restore and verify must stop with exit 1 and one line that names the
// file and what is wrong with it, and write no restored file.
func TestCorruptStore_RestoreAndVerifyNameTheFileAndRefuse(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	b := newCorruptBackup(ctx, t)
	for _, c := range corruptions {
		t.Run(c.name, func(t *testing.T) {
			dir := b.copy(t)
			bad := c.apply(t, dir, b.table)
			out := filepath.Join(t.TempDir(), "restored.json")
			r := ddbtape(ctx, t, nil, "restore", "--source", dir, "--table", b.table, "--at", "latest", "--to-file", out)
			oneLine(t, r, 1, bad, c.says, "rerun with --skip-corrupt")
			t.Logf("restore said: %s", strings.TrimSpace(r.stderr[strings.LastIndex(strings.TrimRight(r.stderr, "\n"), "\n")+1:]))
			if _, err := os.Stat(out); err == nil {
				t.Errorf("restore refused but left %s behind", out)
			}
			r = ddbtape(ctx, t, nil, "verify", "--source", dir, "--table", b.table)
			oneLine(t, r, 1, bad, c.says, "rerun with --skip-corrupt")
			t.Logf("verify said: %s", strings.TrimSpace(r.stderr[strings.LastIndex(strings.TrimRight(r.stderr, "\n"), "\n")+1:]))
			// verify --objects finds it without the table (no --endpoint-url: DynamoDB is
			// not reached), names it, and fails.
			r = ddbtape(ctx, t, nil, "verify", "--objects", "--source", dir, "--table", b.table)
			if r.code != 1 || !strings.Contains(r.stdout, "problem: ") || !strings.Contains(r.stdout, bad) || !strings.Contains(r.stderr, "1 damaged or missing files") {
				t.Errorf("verify --objects: exit %d, want 1 naming %s:\n%s%s", r.code, bad, r.stdout, r.stderr)
			}
			t.Logf("verify --objects said:\n%s", r.stdout)
		})
	}
}

// keysIn returns the canonical keys of the items or changes in a healthy backup file.
func keysIn(t *testing.T, path string) map[string]bool {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var raw []string
	if strings.Contains(path, "/snapshots/") {
		items, err := writer.ReadPart(data)
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range items {
			raw = append(raw, it.Keys)
		}
	} else {
		changes, err := writer.ReadChanges(data)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range changes {
			raw = append(raw, c.Keys)
		}
	}
	out := map[string]bool{}
	for _, k := range raw {
		c, err := ddbjson.Canonical(k)
		if err != nil {
			t.Fatal(err)
		}
		out[c] = true
	}
	return out
}

// TestCorruptStore_SkipCorruptGoesOnAndListsWhatIsMissing damages one file per case and
// runs with --skip-corrupt: restore writes everything else, lists the file with what is
// missing because of it and says the result is incomplete; every item the file does not
// touch is restored exactly. verify lists the file and fails: the backup is damaged.
func TestCorruptStore_SkipCorruptGoesOnAndListsWhatIsMissing(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	b := newCorruptBackup(ctx, t)
	for _, c := range corruptions {
		t.Run(c.name, func(t *testing.T) {
			touched := keysIn(t, c.target(t, b.dir, b.table)) // read before it is damaged
			dir := b.copy(t)
			bad := c.apply(t, dir, b.table)

			out := filepath.Join(t.TempDir(), "restored.json")
			r := ddbtape(ctx, t, nil, "restore", "--source", dir, "--table", b.table, "--at", "latest", "--to-file", out, "--skip-corrupt")
			if r.code != 0 {
				t.Fatalf("restore --skip-corrupt: exit %d:\n%s", r.code, r.stderr)
			}
			skipped := skipLine(t, r.stderr, bad, c.says)
			t.Logf("restore --skip-corrupt said: %s", skipped)
			if !strings.Contains(r.stderr, "the result is incomplete: 1 corrupt file skipped") {
				t.Errorf("restore did not say its result is incomplete:\n%s", r.stderr)
			}
			got := readRestoredFile(t, out)
			if sameStates(got, b.model) {
				t.Errorf("the restore equals the model although a file was skipped: the damage tested nothing")
			}
			for k, want := range b.model {
				if !touched[k] && got[k] != want {
					t.Errorf("item %s, not in the skipped file, restored as %.200q, want %.200q", k, got[k], want)
				}
			}
			for k := range got {
				if _, ok := b.model[k]; !ok && !touched[k] {
					t.Errorf("item %s, not in the skipped file, restored but deleted in the table", k)
				}
			}

			r = ddbtape(ctx, t, nil, "verify", "--source", dir, "--table", b.table, "--skip-corrupt")
			oneLine(t, r, 1, "the backup is damaged: 1 corrupt file skipped")
			skipLine(t, r.stderr, bad, c.says)
		})
	}
}

// skipLine returns the line of stderr that reports the skipped file; it must name the
// file, say what is wrong and what is missing.
func skipLine(t *testing.T, stderr, path, says string) string {
	t.Helper()
	for _, line := range strings.Split(stderr, "\n") {
		if strings.HasPrefix(line, "skipped corrupt file: ") && strings.Contains(line, path) {
			if !strings.Contains(line, says) || !strings.Contains(line, "missing from the result: ") {
				t.Errorf("skip line does not say %q and what is missing: %s", says, line)
			}
			return line
		}
	}
	t.Fatalf("no line reports the skipped file %s:\n%s", path, stderr)
	return ""
}
