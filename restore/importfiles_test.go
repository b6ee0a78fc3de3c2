package restore

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/klauspost/compress/gzip"

	"github.com/ddbtape/ddbtape/replay"
	"github.com/ddbtape/ddbtape/storage"
	"github.com/ddbtape/ddbtape/storage/dir"
	"github.com/ddbtape/ddbtape/writer"
)

// importFixture restores n items (k0000..) as import files into a new directory bucket.
func importFixture(t *testing.T, n int, opts ImportFileOptions) (storage.Bucket, *ImportFiles, map[string]string) {
	t.Helper()
	var items []writer.SnapshotItem
	want := map[string]string{}
	for i := range n {
		k := fmt.Sprintf("k%04d", i)
		items = append(items, snapItem(k, strings.Repeat("x", i%50)))
		want[key(k)] = item(k, strings.Repeat("x", i%50))
	}
	p, r := snapshotPlan(items[:n/2], items[n/2:])
	p.Snapshot.Manifest.KeySchema = []writer.KeyElement{{AttributeName: "pk", KeyType: "HASH"}}
	p.Snapshot.Manifest.AttributeDefinitions = []writer.AttributeDefinition{{AttributeName: "pk", AttributeType: "S"}}
	b, err := dir.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	spec, err := ImportCreation("orders-restored", p.Snapshot.Manifest)
	if err != nil {
		t.Fatal(err)
	}
	opts.SpoolDir = t.TempDir()
	tgt, _, err := CreateImportFiles(t.Context(), b, spec, nil, opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Run(t.Context(), p, tgt, Options{Reader: r, TempDir: t.TempDir(), Partition: opts.Partition}); err != nil {
		t.Fatal(err)
	}
	return b, tgt, want
}

// readImportFiles reads every file the manifest lists, checking its size and SHA-256,
// and returns the items by key, and the keys of each file in file order.
func readImportFiles(t *testing.T, b storage.Bucket, m ImportManifest) (map[string]string, [][]string) {
	t.Helper()
	got := map[string]string{}
	var perFile [][]string
	for _, f := range m.Files {
		rc, err := b.Open(t.Context(), f.Key)
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		if sum := sha256.Sum256(data); hex.EncodeToString(sum[:]) != f.SHA256 || int64(len(data)) != f.Bytes {
			t.Errorf("%s: %d bytes with SHA-256 %x, the manifest says %d and %s", f.Key, len(data), sum, f.Bytes, f.SHA256)
		}
		gz, err := gzip.NewReader(strings.NewReader(string(data)))
		if err != nil {
			t.Fatalf("%s: %v", f.Key, err)
		}
		sc := bufio.NewScanner(gz)
		var keys []string
		var n int64
		for sc.Scan() {
			line := sc.Text()
			it, ok := strings.CutPrefix(line, `{"Item":`)
			if !ok || !strings.HasSuffix(it, "}") {
				t.Fatalf("%s: line %q is not {\"Item\":...}", f.Key, line)
			}
			it = strings.TrimSuffix(it, "}")
			k := it[:strings.Index(it, `},"v"`)+1] + "}"
			if _, dup := got[k]; dup {
				t.Errorf("key %s twice", k)
			}
			got[k] = it
			keys = append(keys, k)
			n++
		}
		if n != f.Items {
			t.Errorf("%s holds %d items, the manifest says %d", f.Key, n, f.Items)
		}
		perFile = append(perFile, keys)
	}
	return got, perFile
}

func storedManifest(t *testing.T, b storage.Bucket, key string) ImportManifest {
	t.Helper()
	rc, err := b.Open(t.Context(), key)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	m, err := DecodeImportManifest(data)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestImportFiles_HoldEveryItemInBoundedShuffledFilesWithAManifest(t *testing.T) {
	b, tgt, want := importFixture(t, 2000, ImportFileOptions{FileBytes: 8 << 10, ShuffleBytes: 16 << 10, Stripes: 4})
	m := storedManifest(t, b, "manifest.json")
	got, perFile := readImportFiles(t, b, m)
	if !maps.Equal(got, want) {
		t.Fatalf("the files hold %d items, want %d (or they differ)", len(got), len(want))
	}
	if len(m.Files) < 10 || m.Items != 2000 || !slices.Equal(m.Files, tgt.Files()) {
		t.Errorf("manifest: %d files, %d items", len(m.Files), m.Items)
	}
	var bytes, raw int64
	for _, f := range m.Files {
		bytes += f.Bytes
		raw += f.UncompressedBytes
		// A file closes at the first item past the bound.
		if f.UncompressedBytes > 8<<10+200 || !strings.HasPrefix(f.Key, "data/part-") || !strings.HasSuffix(f.Key, ".json.gz") {
			t.Errorf("file %s: %d bytes uncompressed", f.Key, f.UncompressedBytes)
		}
	}
	if bytes != m.Bytes || raw != m.UncompressedBytes {
		t.Errorf("manifest totals %d/%d, files add up to %d/%d", m.Bytes, m.UncompressedBytes, bytes, raw)
	}
	// No file holds a key range: in key order, the keys of any file are interleaved with
	// those of others nearly everywhere.
	owner := map[string]int{}
	for i, keys := range perFile {
		for _, k := range keys {
			owner[k] = i
		}
		if slices.IsSorted(keys) {
			t.Errorf("file %d holds its keys in key order", i)
		}
	}
	sorted := slices.Sorted(maps.Keys(owner))
	runs := 1
	for i := 1; i < len(sorted); i++ {
		if owner[sorted[i]] != owner[sorted[i-1]] {
			runs++
		}
	}
	if runs < len(sorted)/2 {
		t.Errorf("in key order the files' keys form %d runs of %d keys: files hold key ranges", runs, len(sorted))
	}
	if m.Table.TableName != "orders-restored" || !strings.Contains(m.ImportCommand, "aws dynamodb import-table") || !strings.Contains(m.ImportCommand, `"S3Bucket":"BUCKET","S3KeyPrefix":"PREFIX/data/"`) {
		t.Errorf("manifest table %+v, command %s", m.Table, m.ImportCommand)
	}
}

func TestImportFiles_TheSameRestoreWritesTheSameFiles(t *testing.T) {
	opts := ImportFileOptions{FileBytes: 8 << 10, ShuffleBytes: 16 << 10}
	b1, _, _ := importFixture(t, 500, opts)
	b2, _, _ := importFixture(t, 500, opts)
	if m1, m2 := storedManifest(t, b1, "manifest.json"), storedManifest(t, b2, "manifest.json"); !slices.Equal(m1.Files, m2.Files) {
		t.Errorf("two runs wrote different files:\n%v\n%v", m1.Files, m2.Files)
	}
}

func TestImportFiles_RefuseAFinishedRestoreAndCleanAnInterruptedOne(t *testing.T) {
	ctx := t.Context()
	part := replay.Partition{Index: 1, Count: 3}
	b, _, _ := importFixture(t, 300, ImportFileOptions{Partition: part, FileBytes: 4 << 10})
	m := storedManifest(t, b, "manifest-p1of3.json")
	if len(m.Files) < 2 || m.Partition != "1/3" || !strings.HasPrefix(m.Files[0].Key, "data/p1of3-") {
		t.Fatalf("partition manifest: %+v", m)
	}
	spec := m.Table
	_, _, err := CreateImportFiles(ctx, b, spec, nil, ImportFileOptions{Partition: part})
	if !errors.Is(err, ErrImportExists) {
		t.Fatalf("a second restore into a finished one: %v", err)
	}
	// Another partition's files do not count, and an interrupted restore's files are
	// deleted, with --force a finished one's too.
	if _, n, err := CreateImportFiles(ctx, b, spec, nil, ImportFileOptions{Partition: replay.Partition{Index: 0, Count: 3}}); err != nil || n != 0 {
		t.Fatalf("partition 0/3 beside 1/3: %d deleted, %v", n, err)
	}
	if err := b.Delete(ctx, "manifest-p1of3.json"); err != nil {
		t.Fatal(err)
	}
	if _, n, err := CreateImportFiles(ctx, b, spec, nil, ImportFileOptions{Partition: part}); err != nil || n != len(m.Files) {
		t.Fatalf("after an interrupted restore: %d deleted, %v; want %d", n, err, len(m.Files))
	}
	if left, _ := b.List(ctx, "data/"); len(left) != 0 {
		t.Errorf("left behind: %v", left)
	}
}

func TestImportFiles_AFailedRestoreLeavesNoFile(t *testing.T) {
	var items []writer.SnapshotItem
	for i := range 400 {
		items = append(items, snapItem(fmt.Sprint("k", i), strings.Repeat("y", 40)))
	}
	p, r := snapshotPlan(items[:200], items[200:])
	r.err["part-00001.parquet"] = errors.New("disk on fire")
	b, err := dir.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	spec, _ := ImportCreation("t-restored", p.Snapshot.Manifest)
	tgt, _, err := CreateImportFiles(t.Context(), b, spec, nil, ImportFileOptions{FileBytes: 1 << 10, ShuffleBytes: 1 << 10, SpoolDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Run(t.Context(), p, tgt, Options{Reader: r, TempDir: t.TempDir()}); err == nil || !strings.Contains(err.Error(), "disk on fire") {
		t.Fatalf("err = %v", err)
	}
	if left, _ := b.List(t.Context(), ""); len(left) != 0 {
		t.Errorf("a failed restore left %d objects, as %s", len(left), left[0].Key)
	}
}

func TestImportFiles_TooManyFilesSaysToRaiseTheFileSize(t *testing.T) {
	var items []writer.SnapshotItem
	for i := range 100 {
		items = append(items, snapItem(fmt.Sprint("k", i), "v"))
	}
	p, r := snapshotPlan(items)
	b, _ := dir.New(t.TempDir())
	spec, _ := ImportCreation("t-restored", p.Snapshot.Manifest)
	tgt, _, err := CreateImportFiles(t.Context(), b, spec, nil, ImportFileOptions{FileBytes: 1, SpoolDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	tgt.maxFiles = 10
	if _, err := Run(t.Context(), p, tgt, Options{Reader: r, TempDir: t.TempDir()}); !errors.Is(err, ErrTooManyFiles) || !strings.Contains(err.Error(), "--file-size") {
		t.Errorf("err = %v", err)
	}
}

// Memory stays bounded by the shuffle window, whatever the number of items: what is
// held before it is dealt to the files never grows past the window and one item.
func TestImportFiles_HoldNoMoreThanTheShuffleWindow(t *testing.T) {
	b, err := dir.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	tgt, _, err := CreateImportFiles(t.Context(), b, TableCreation{TableName: "t-restored"}, nil, ImportFileOptions{ShuffleBytes: 4 << 10, FileBytes: 64 << 10, SpoolDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	it := item("k", strings.Repeat("z", 100))
	for i := range 20000 {
		if err := tgt.Put(t.Context(), key(fmt.Sprint(i)), it, Insert); err != nil {
			t.Fatal(err)
		}
		if tgt.windowBytes > 4<<10 || len(tgt.window) > (4<<10)/len(it)+1 {
			t.Fatalf("after %d items the window holds %d items, %d bytes", i+1, len(tgt.window), tgt.windowBytes)
		}
	}
	if err := tgt.Commit(t.Context()); err != nil {
		t.Fatal(err)
	}
	if m := tgt.Manifest(); m.Items != 20000 || len(m.Files) < 20 {
		t.Errorf("%d items in %d files", m.Items, len(m.Files))
	}
}
