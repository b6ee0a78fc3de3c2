package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// smallDisk is a tmpfs of a fixed size, really full when filled, that a test can also
// remount read-only. It is mounted in a private mount namespace (inside a user namespace,
// so it works without root too) held open by a helper process: nothing outside the test
// sees it, and it disappears with the helper even if the test binary is killed. Processes
// that must see it run through command; the test itself reaches its files through View.
type smallDisk struct {
	// Dir is the mount point as the processes inside the namespace see it.
	Dir string
	// holderPID is the process holding the namespace; 0 when mounted in the test's own
	// namespace (the fallback for root without user namespaces).
	holderPID int
}

// mountSmallDisk mounts a tmpfs of size (mount's syntax: "8m") on a new directory.
func mountSmallDisk(t *testing.T, size string) *smallDisk {
	t.Helper()
	dir := t.TempDir()
	d, nsErr := mountInNamespace(t, dir, size)
	if nsErr == nil {
		return d
	}
	if os.Geteuid() != 0 {
		t.Fatalf("this test needs a really full disk: a tmpfs mounted through root or unprivileged user namespaces (unshare --user --map-root-user --mount), and neither works here: %v", nsErr)
	}
	// Root without user namespaces: mount in the test's namespace and unmount at the end.
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size+",mode=0755", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Fatalf("this test needs a really full disk: user namespaces failed (%v) and mount -t tmpfs as root failed too: %v: %s", nsErr, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", "-l", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return &smallDisk{Dir: dir}
}

func mountInNamespace(t *testing.T, dir, size string) (*smallDisk, error) {
	for _, tool := range []string{"unshare", "nsenter", "mount"} {
		if _, err := exec.LookPath(tool); err != nil {
			return nil, fmt.Errorf("%s not found (install util-linux): %w", tool, err)
		}
	}
	// The holder mounts, says so, then waits on stdin: closing it ends the namespace.
	holder := exec.Command("unshare", "--user", "--map-root-user", "--mount", "--propagation", "private",
		"sh", "-c", `mount -t tmpfs -o "size=$2,mode=0755" tmpfs "$1" && echo mounted && exec cat >/dev/null`, "sh", dir, size)
	stdin, err := holder.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := holder.StdoutPipe()
	if err != nil {
		return nil, err
	}
	var stderr strings.Builder
	holder.Stderr = &stderr
	if err := holder.Start(); err != nil {
		return nil, fmt.Errorf("unshare: %w", err)
	}
	line, _ := bufio.NewReader(stdout).ReadString('\n')
	if strings.TrimSpace(line) != "mounted" {
		stdin.Close()
		werr := holder.Wait()
		return nil, fmt.Errorf("unshare --user --map-root-user --mount and mount -t tmpfs: %v: %s", werr, strings.TrimSpace(stderr.String()))
	}
	t.Cleanup(func() {
		stdin.Close()
		done := make(chan error, 1)
		go func() { done <- holder.Wait() }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = holder.Process.Kill()
			<-done
		}
	})
	d := &smallDisk{Dir: dir, holderPID: holder.Process.Pid}
	// The test reads and writes the disk's files from outside the namespace.
	if _, err := os.Stat(d.View()); err != nil {
		return nil, fmt.Errorf("cannot reach the namespace's files through /proc: %w", err)
	}
	return d, nil
}

// View is the mount point as the test process reaches it.
func (d *smallDisk) View() string {
	if d.holderPID == 0 {
		return d.Dir
	}
	return filepath.Join("/proc", strconv.Itoa(d.holderPID), "root", d.Dir)
}

// wrap makes cmd run inside the disk's namespace (nsenter execs, so cmd's process is the
// command itself: signals reach it directly).
func (d *smallDisk) wrap(cmd *exec.Cmd) {
	if d.holderPID == 0 {
		return
	}
	nsenter, err := exec.LookPath("nsenter")
	if err != nil {
		cmd.Err = err
		return
	}
	// --preserve-credentials: without root, a user namespace denies setgroups, which
	// nsenter would otherwise call; the uid is mapped to root inside either way.
	cmd.Args = append([]string{"nsenter", "--preserve-credentials", "--target", strconv.Itoa(d.holderPID), "--user", "--mount", "--", cmd.Path}, cmd.Args[1:]...)
	cmd.Path = nsenter
}

// run runs a command inside the namespace and fails the test on error.
func (d *smallDisk) run(t *testing.T, name string, args ...string) {
	t.Helper()
	if err := d.try(name, args...); err != nil {
		t.Fatal(err)
	}
}

func (d *smallDisk) try(name string, args ...string) error {
	cmd := exec.Command(name, args...)
	d.wrap(cmd)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, out)
	}
	return nil
}

// setReadOnly makes the mount read-only or read-write again. It remounts the mount point
// (bind), not the file system: a file-system remount would pass the tmpfs's uid= option,
// which a user namespace without root cannot map. Writes fail with EROFS all the same. A
// remount read-only fails while a file is open for writing on it; the capture holds one
// only for a moment, so retry.
func (d *smallDisk) setReadOnly(t *testing.T, ro bool) {
	t.Helper()
	opt := "remount,bind,rw"
	if ro {
		opt = "remount,bind,ro"
	}
	deadline := time.Now().Add(time.Minute) // generous: on a busy machine the moment can be long
	for {
		err := d.try("mount", "-o", opt, d.Dir)
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// fill writes a file named name until the disk has no byte left; it returns its path
// (as View sees it), to remove when space should come back.
func (d *smallDisk) fill(t *testing.T, name string) string {
	t.Helper()
	path := filepath.Join(d.View(), name)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// Big writes first, then page-sized ones for the last few kilobytes.
	for _, size := range []int{1 << 20, 4096, 512} {
		buf := make([]byte, size)
		for {
			if _, err := f.Write(buf); err != nil {
				if !errors.Is(err, syscall.ENOSPC) {
					t.Fatalf("fill %s: %v", path, err)
				}
				break
			}
		}
	}
	return path
}

// startIn starts the ddbtape binary inside the disk's namespace with its stderr collected.
func (d *smallDisk) startIn(ctx context.Context, t *testing.T, stderr io.Writer, args ...string) *exec.Cmd {
	t.Helper()
	cmd := ddbtapeCommand(ctx, t, nil, args...)
	d.wrap(cmd)
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %v: %v", cmd.Args, err)
	}
	return cmd
}
