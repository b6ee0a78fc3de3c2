package dir_test

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"

	"github.com/ddbtape/ddbtape/storage"
	"github.com/ddbtape/ddbtape/storage/dir"
	"github.com/ddbtape/ddbtape/storage/storagetest"
)

func newBucket(t testing.TB) *dir.Bucket {
	t.Helper()
	b, err := dir.New(t.TempDir())
	if err != nil {
		t.Fatalf("dir.New: %v", err)
	}
	return b
}

func TestBucket_Suite(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Bucket { return newBucket(t) })
}

func TestBucket_SuiteUnderSub(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Bucket { return storage.Sub(newBucket(t), "dest/prefix/") })
}

// A missing root is made by the first write, with its missing parents; New alone leaves
// nothing behind (a command that fails before storing anything must not either).
func TestNew_AMissingRootIsCreatedByTheFirstWriteOnly(t *testing.T) {
	parent := t.TempDir()
	root := filepath.Join(parent, "a", "b", "c")
	b, err := dir.New(root)
	if err != nil {
		t.Fatalf("New(%q): %v", root, err)
	}
	if b.Root() != root {
		t.Fatalf("Root() = %q, want %q", b.Root(), root)
	}
	if entries, _ := os.ReadDir(parent); len(entries) != 0 {
		t.Fatalf("New created %v before any write", entries)
	}
	if objs, err := b.List(t.Context(), ""); err != nil || len(objs) != 0 {
		t.Fatalf("List of a root not made yet = %v, %v; want nothing", objs, err)
	}
	if err := b.Create(t.Context(), "t/x.json", strings.NewReader("{}")); err != nil {
		t.Fatalf("first write: %v", err)
	}
	if data, err := os.ReadFile(filepath.Join(root, "t", "x.json")); err != nil || string(data) != "{}" {
		t.Fatalf("first write stored %q, %v", data, err)
	}
}

func TestNew_RefusesAnUnwritableDestinationWithOneClearError(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, root := range []string{file, filepath.Join(file, "sub")} {
		_, err := dir.New(root)
		if err == nil {
			t.Fatalf("New(%q) succeeded on a path that is not a directory", root)
		}
		if want := "destination " + root + " is not writable: "; !strings.HasPrefix(err.Error(), want) {
			t.Errorf("New(%q) error = %q, want it to start with %q", root, err, want)
		}
	}
}

func TestBucket_RejectsKeysOutsideTheRootOrShapedLikeTemporaryFiles(t *testing.T) {
	b := newBucket(t)
	ctx := t.Context()
	for _, key := range []string{"", "/etc/passwd", "../x", "a/../../x", "a//b", "a/./b", "a/", ".x.tmp-123", "t/.seg.parquet.tmp-42"} {
		if err := b.Put(ctx, key, strings.NewReader("x")); err == nil {
			t.Errorf("Put(%q) succeeded", key)
		}
		if err := b.Create(ctx, key, strings.NewReader("x")); err == nil {
			t.Errorf("Create(%q) succeeded", key)
		}
		if _, err := b.Open(ctx, key); err == nil {
			t.Errorf("Open(%q) succeeded", key)
		}
		if err := b.Delete(ctx, key); err == nil {
			t.Errorf("Delete(%q) succeeded", key)
		}
	}
	if _, err := b.List(ctx, "../"); err == nil {
		t.Error(`List("../") succeeded`)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(b.Root()), "x")); err == nil {
		t.Error("a file was written outside the root")
	}
}

func TestBucket_ListSkipsTemporaryAndStrayFiles(t *testing.T) {
	b := newBucket(t)
	ctx := t.Context()
	key := "t/changes/dt=2026-11-21/hour=01/s_1_2.parquet"
	if err := b.Put(ctx, key, strings.NewReader("x")); err != nil {
		t.Fatal(err)
	}
	// What a crash mid-write leaves behind, and a symlink someone put there.
	d := filepath.Join(b.Root(), "t/changes/dt=2026-11-21/hour=01")
	for _, name := range []string{".s_3_4.parquet.tmp-123456", ".probe.tmp-99"} {
		if err := os.WriteFile(filepath.Join(d, name), []byte("partial"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("/etc/hostname", filepath.Join(d, "link.parquet")); err != nil {
		t.Fatal(err)
	}
	objs, err := b.List(ctx, "t/")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, o := range objs {
		got = append(got, o.Key)
	}
	if want := []string{key}; !reflect.DeepEqual(got, want) {
		t.Fatalf("List = %q, want %q", got, want)
	}
}

func TestBucket_CreateLeavesOneLinkAndNoTemporaryFile(t *testing.T) {
	b := newBucket(t)
	if err := b.Create(t.Context(), "t/a/obj", strings.NewReader("x")); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(filepath.Join(b.Root(), "t/a"))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Name() != "obj" {
		t.Fatalf("directory holds %v, want only obj", entries)
	}
	fi, err := os.Stat(filepath.Join(b.Root(), "t/a/obj"))
	if err != nil {
		t.Fatal(err)
	}
	if n := fi.Sys().(*syscall.Stat_t).Nlink; n != 1 {
		t.Fatalf("object has %d links, want 1 (the temporary name must be gone)", n)
	}
}

func TestBucket_URLIsTheFilePath(t *testing.T) {
	b := newBucket(t)
	if got, want := storage.URL(b, "t/x.json"), filepath.Join(b.Root(), "t", "x.json"); got != want {
		t.Fatalf("URL = %q, want %q", got, want)
	}
	if got, want := storage.URL(storage.Sub(b, "t/"), "x.json"), filepath.Join(b.Root(), "t", "x.json"); got != want {
		t.Fatalf("URL through Sub = %q, want %q", got, want)
	}
}
