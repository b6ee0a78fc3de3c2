package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ddbtape/ddbtape/catalog"
	"github.com/ddbtape/ddbtape/storage/dir"
)

// A restore holds a retention lock: when retention has already moved the window's start
// past the requested time, the restore refuses instead of reading files being deleted.
func TestRestore_RefusesATimeRetentionIsDeleting(t *testing.T) {
	src := bookBackup(t)
	marker := filepath.Join(src, filepath.FromSlash(catalog.MarkerKey("books")))
	if err := os.WriteFile(marker, []byte(`{"horizon":"2026-03-01T10:30:00Z"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "o.json")
	res := runCLI(t, "restore", "--source", src, "--table", "books", "--at", "2026-03-01T10:10:00Z", "--to-file", out)
	if res.code != 1 || !strings.Contains(res.stderr, "retention keeps restore points from 2026-03-01T10:30:00Z") {
		t.Fatalf("exit %d, stderr %q: want a refusal naming retention's start", res.code, res.stderr)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("the refused restore wrote %s", out)
	}
	// After the marker's time it restores, and leaves no live lock behind (released, for
	// retention to delete: a reader deletes nothing).
	res = runCLI(t, "restore", "--source", src, "--table", "books", "--at", "2026-03-01T10:40:00Z", "--to-file", out)
	if res.code != 0 {
		t.Fatalf("exit %d: %s", res.code, res.stderr)
	}
	b, err := dir.New(src)
	if err != nil {
		t.Fatal(err)
	}
	if live, _, err := catalog.Locks(t.Context(), b, "books", time.Now()); err != nil || len(live) != 0 {
		t.Errorf("live locks left behind: %v, %v", live, err)
	}
	// --no-lock reads without asking retention (for a read-only source).
	res = runCLI(t, "restore", "--source", src, "--table", "books", "--at", "2026-03-01T10:10:00Z", "--to-file", filepath.Join(t.TempDir(), "n.json"), "--no-lock")
	if res.code != 0 {
		t.Fatalf("--no-lock: exit %d: %s", res.code, res.stderr)
	}
}
