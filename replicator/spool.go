package replicator

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// Spool directories are named ddbtape-spool-<pid>-<random>, so that a capture can tell the
// leftovers of a killed one (its process is gone) from a running one's.
const spoolName = "ddbtape-spool-"

func spoolPrefix() string { return fmt.Sprintf("%s%d-", spoolName, os.Getpid()) }

// removeStaleSpools deletes spool directories whose process no longer exists: a capture
// killed with SIGKILL leaves its unfinished segments there (their records are re-read from
// the last checkpoint, so nothing in them is needed).
func removeStaleSpools(dir string, log *slog.Logger) {
	if dir == "" {
		dir = os.TempDir()
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		pid, ok := spoolPID(e.Name())
		if !ok || !e.IsDir() || pid == os.Getpid() || processExists(pid) {
			continue
		}
		path := filepath.Join(dir, e.Name())
		if err := os.RemoveAll(path); err != nil {
			log.Warn("could not remove a stale spool directory", "path", path, "err", err)
			continue
		}
		log.Info("removed the spool directory of a capture that was killed", "path", path)
	}
}

// spoolPID reads the pid from a spool directory's name.
func spoolPID(name string) (int, bool) {
	rest, ok := strings.CutPrefix(name, spoolName)
	if !ok {
		return 0, false
	}
	digits, _, ok := strings.Cut(rest, "-")
	if !ok {
		return 0, false
	}
	pid, err := strconv.Atoi(digits)
	return pid, err == nil && pid > 0
}

// processExists reports whether a process with pid runs (or may run: EPERM means it does,
// under another user).
func processExists(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
