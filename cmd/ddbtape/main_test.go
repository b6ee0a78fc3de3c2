package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/ddbtape/ddbtape/internal/ddblocal"
)

// TestMain starts one DynamoDB Local for every test of the CLI. It is the only TestMain of
// this package: tests of every subcommand share it and the binary built by ddbtapeBinary.
func TestMain(m *testing.M) { ddblocal.Main(m) }

var binary struct {
	once sync.Once
	path string
	err  error
}

// ddbtapeBinary builds the ddbtape command once per test run, so tests can run it as a
// user would (and kill it with SIGKILL).
func ddbtapeBinary(t testing.TB) string {
	t.Helper()
	binary.once.Do(func() {
		dir, err := os.MkdirTemp("", "ddbtape-bin-")
		if err != nil {
			binary.err = err
			return
		}
		binary.path = filepath.Join(dir, "ddbtape")
		out, err := exec.Command("go", "build", "-o", binary.path, ".").CombinedOutput()
		if err != nil {
			binary.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binary.err != nil {
		t.Fatalf("build ddbtape: %v", binary.err)
	}
	return binary.path
}

// result is what one run of the binary did.
type result struct {
	code           int
	stdout, stderr string
}

// ddbtape runs the binary against the shared DynamoDB Local with extra environment and
// waits for it (bounded by ctx).
func ddbtape(ctx context.Context, t testing.TB, extraEnv []string, args ...string) result {
	t.Helper()
	cmd := ddbtapeCommand(ctx, t, extraEnv, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("run ddbtape %v: %v", args, err)
		}
		code = ee.ExitCode()
	}
	return result{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

// ddbtapeCommand prepares the binary with DynamoDB Local's environment.
func ddbtapeCommand(ctx context.Context, t testing.TB, extraEnv []string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.CommandContext(ctx, ddbtapeBinary(t), args...)
	cmd.Env = append(append(os.Environ(), ddblocal.Shared(t).Env()...), extraEnv...)
	cmd.WaitDelay = 10 * time.Second
	return cmd
}

// syncBuffer collects a subprocess's output while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
