package replicator

import (
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
)

func TestRemoveStaleSpools_OnlyThoseOfDeadProcesses(t *testing.T) {
	dir := t.TempDir()
	// A process that has certainly exited.
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	dead := cmd.Process.Pid
	mk := func(name string) string {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Join(p, "x"), 0o700); err != nil {
			t.Fatal(err)
		}
		return p
	}
	stale := mk(spoolName + strconv.Itoa(dead) + "-123")
	mine := mk(spoolPrefix() + "456")
	parent := mk(spoolName + strconv.Itoa(os.Getppid()) + "-789")
	other := mk("ddbtape-spool-notapid")
	unrelated := mk("something-else")

	removeStaleSpools(dir, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("spool of dead pid %d was kept", dead)
	}
	for _, p := range []string{mine, parent, other, unrelated} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s was removed: %v", p, err)
		}
	}
}
