// Package ddblocal runs DynamoDB Local, the real one with Streams, for tests.
//
// A package's TestMain calls Main, which starts one in-memory instance for the test binary;
// tests reach it with Shared and make their own tables with CreateTable, so tests of one
// package share a JVM but never a table. Tests that kill or restart DynamoDB Local call Start
// for an instance of their own.
//
// The jar comes from scripts/dynamodb-local.sh install (the npm package
// amplify-dynamodb-simulator@2.9.30) into <repo>/.cache/dynamodb-local/; Start runs that script
// when the cache is missing. A missing java or npm is an error naming what to install: tests
// fail, never skip.
package ddblocal

import (
	"context"
	"errors"
	"fmt"
	"github.com/ddbtape/ddbtape/internal/testproc"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
)

// ErrJavaMissing means java is not on PATH; DynamoDB Local is a Java program.
var ErrJavaMissing = errors.New("java not found: install OpenJDK 17 (apt-get install -y openjdk-17-jre-headless)")

// ErrNoRepoRoot means the repository root was not found above the working directory, so
// neither the install script nor the cache can be located.
var ErrNoRepoRoot = testproc.ErrNoRepoRoot

const (
	// readyTimeout bounds the wait for a launched JVM to answer: about 2 s on an idle machine,
	// but over 20 s was seen on a 2-core machine busy compiling and running other tests.
	readyTimeout = 120 * time.Second
	// launchAttempts covers the race between picking a free port and java binding it.
	launchAttempts = 3
	cacheDir       = ".cache/dynamodb-local"
	jarName        = "DynamoDBLocal.jar"
	libName        = "DynamoDBLocal_lib"
)

// Instance is one running DynamoDB Local process. It dies with the test process (the kernel
// sends it SIGKILL when the parent exits) even if Stop is never called.
type Instance struct {
	// Endpoint is the base URL of DynamoDB and DynamoDB Streams, http://127.0.0.1:PORT.
	Endpoint string
	// Port is the TCP port on 127.0.0.1.
	Port int

	cmd      *exec.Cmd
	output   *testproc.TailBuffer
	workDir  string
	exited   chan struct{} // closed once the process has been reaped
	waitErr  error         // valid after exited is closed
	stopOnce sync.Once
}

// Start installs DynamoDB Local into the repository's cache if needed, launches it in memory
// on a free port and returns once ListTables succeeds. ctx bounds the install and the
// start-up, not the life of the instance: call Stop for that.
func Start(ctx context.Context) (*Instance, error) {
	root, err := testproc.RepoRoot("dynamodb-local.sh")
	if err != nil {
		return nil, err
	}
	if _, err := exec.LookPath("java"); err != nil {
		return nil, ErrJavaMissing
	}
	if err := ensureInstalled(ctx, root); err != nil {
		return nil, err
	}
	var lastErr error
	for range launchAttempts {
		inst, err := launch(ctx, filepath.Join(root, cacheDir))
		if err == nil {
			return inst, nil
		}
		lastErr = err
		if ctx.Err() != nil || !errors.Is(err, errPortTaken) {
			break
		}
	}
	return nil, lastErr
}

// Stop kills the process and waits for it to be reaped. It is safe to call more than once.
func (i *Instance) Stop() {
	i.stopOnce.Do(func() {
		_ = i.cmd.Process.Kill()
		<-i.exited
		_ = os.RemoveAll(i.workDir)
	})
}

// Output returns the last lines DynamoDB Local wrote, for failure messages.
func (i *Instance) Output() string { return i.output.String() }

// Exited is closed when the process has ended, whether by Stop or by a crash.
func (i *Instance) Exited() <-chan struct{} { return i.exited }

func installed(cache string) bool {
	jar, err := os.Stat(filepath.Join(cache, jarName))
	if err != nil || !jar.Mode().IsRegular() {
		return false
	}
	lib, err := os.Stat(filepath.Join(cache, libName))
	return err == nil && lib.IsDir()
}

// ensureInstalled runs the install script, which takes a lock, so test binaries started
// together from a fresh clone download the package once.
func ensureInstalled(ctx context.Context, root string) error {
	if installed(filepath.Join(root, cacheDir)) {
		return nil
	}
	script := filepath.Join(root, "scripts", "dynamodb-local.sh")
	out, err := exec.CommandContext(ctx, "bash", script, "install").CombinedOutput()
	if err != nil {
		// The script's last line says what to install; anything before it (npm's own
		// complaints) follows for context.
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		msg := strings.TrimPrefix(lines[len(lines)-1], "dynamodb-local: ")
		err = fmt.Errorf("install DynamoDB Local: %s (%s install: %w)", msg, script, err)
		if len(lines) > 1 {
			err = fmt.Errorf("%w; its output:\n%s", err, out)
		}
		return err
	}
	return nil
}

var errPortTaken = errors.New("port taken before DynamoDB Local bound it")

func launch(ctx context.Context, cache string) (*Instance, error) {
	port, err := testproc.FreePort()
	if err != nil {
		return nil, err
	}
	// DynamoDB Local writes a telemetry settings file into its working directory; give each
	// JVM its own so parallel test binaries neither race on it nor litter the repository.
	workDir, err := os.MkdirTemp("", "ddblocal-")
	if err != nil {
		return nil, fmt.Errorf("work directory for DynamoDB Local: %w", err)
	}
	// Not CommandContext: ctx bounds start-up only, the instance lives until Stop.
	cmd := exec.Command("java",
		"-Djava.library.path="+filepath.Join(cache, libName),
		"-jar", filepath.Join(cache, jarName),
		// -sharedDb: one database whatever the access key and region, so a ddbtape
		// subprocess configured differently still sees the test's tables.
		"-inMemory", "-sharedDb", "-disableTelemetry",
		"-port", strconv.Itoa(port))
	cmd.Dir = workDir
	out := testproc.NewTailBuffer(64 << 10)
	cmd.Stdout = out
	cmd.Stderr = out
	// Pdeathsig fires when the thread that started java exits; the Go runtime ends threads
	// only under runtime.LockOSThread, so in practice it fires when the test binary exits,
	// even on a panic or a timeout's os.Exit.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		_ = os.RemoveAll(workDir)
		return nil, fmt.Errorf("start java for DynamoDB Local: %w", err)
	}
	inst := &Instance{
		Endpoint: "http://127.0.0.1:" + strconv.Itoa(port),
		Port:     port,
		cmd:      cmd,
		output:   out,
		workDir:  workDir,
		exited:   make(chan struct{}),
	}
	// Owned by the Instance; ends when the process does (Stop kills it).
	go func() {
		inst.waitErr = cmd.Wait()
		close(inst.exited)
	}()
	if err := inst.waitReady(ctx); err != nil {
		inst.Stop()
		return nil, err
	}
	return inst, nil
}

// waitReady polls ListTables, not just the socket: the JVM accepts connections a little
// before the request handlers are in place.
func (i *Instance) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	db := dynamodb.NewFromConfig(i.AWSConfig(), func(o *dynamodb.Options) {
		o.RetryMaxAttempts = 1
	})
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var lastErr error
	for {
		callCtx, callCancel := context.WithTimeout(ctx, 5*time.Second)
		_, err := db.ListTables(callCtx, &dynamodb.ListTablesInput{Limit: aws.Int32(1)})
		callCancel()
		if err == nil {
			// Another test binary may have won the race for the port and answered instead.
			if !listensOn(i.cmd.Process.Pid, i.Port) {
				return fmt.Errorf("DynamoDB Local on port %d: %w", i.Port, errPortTaken)
			}
			return nil
		}
		lastErr = err
		select {
		case <-i.exited:
			if strings.Contains(i.Output(), "Address already in use") {
				return fmt.Errorf("DynamoDB Local on port %d: %w", i.Port, errPortTaken)
			}
			return fmt.Errorf("DynamoDB Local exited during start-up (%v); its output:\n%s", i.waitErr, i.Output())
		case <-ctx.Done():
			return fmt.Errorf("DynamoDB Local on port %d did not answer ListTables within %s (last error: %v); its output:\n%s",
				i.Port, readyTimeout, lastErr, i.Output())
		case <-tick.C:
		}
	}
}

// listensOn tells whether pid holds the listening socket on port, by matching the socket
// inodes in /proc/net/tcp{,6} against the process's descriptors.
func listensOn(pid, port int) bool {
	inodes := map[string]bool{}
	wantPort := fmt.Sprintf(":%04X", port)
	for _, name := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		data, err := os.ReadFile(name)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(data), "\n")[1:] {
			f := strings.Fields(line)
			// sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
			if len(f) < 10 || f[3] != "0A" || !strings.HasSuffix(f[1], wantPort) {
				continue
			}
			inodes["socket:["+f[9]+"]"] = true
		}
	}
	fdDir := fmt.Sprintf("/proc/%d/fd", pid)
	fds, err := os.ReadDir(fdDir)
	if err != nil {
		return false
	}
	for _, fd := range fds {
		if target, err := os.Readlink(filepath.Join(fdDir, fd.Name())); err == nil && inodes[target] {
			return true
		}
	}
	return false
}
