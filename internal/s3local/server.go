// Package s3local runs versitygw, a real S3 gateway over a local directory, for tests.
//
// A package's TestMain calls Main, which starts one server for the test binary; tests reach
// it with Shared and make their own buckets with NewBucket, so tests of one package share a
// process but never a bucket. A test that stops the server (to see a writer survive an S3
// outage) calls Start for a server of its own and uses Pause/Resume or Restart, which keep
// the port and the data.
//
// The binary comes from scripts/versitygw.sh install (go install of the pinned version)
// into <repo>/.cache/bin/; Start runs that script, which returns at once when the binary is
// there. A missing go toolchain is an error naming what to install: tests fail, never skip.
package s3local

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
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
)

const (
	// Region is the region the gateway, the client and Env use.
	Region = "us-east-1"
	// AccessKeyID and SecretAccessKey are the gateway's root credentials. They equal
	// internal/ddblocal's, so the Env of both can be combined in any order (DynamoDB Local
	// accepts any credentials; versitygw only these).
	AccessKeyID     = "ddblocal"
	SecretAccessKey = "ddblocal"
	// PathStyleEnv is storage/s3.PathStyleEnv, repeated to keep this fixture independent
	// of the code under test.
	PathStyleEnv = "DDBTAPE_S3_PATH_STYLE"
)

const (
	readyTimeout   = 60 * time.Second
	launchAttempts = 3
	binPath        = ".cache/bin/versitygw"
)

// ErrNoRepoRoot means no go.mod was found above the working directory, so neither the
// install script nor the cache can be located.
var ErrNoRepoRoot = testproc.ErrNoRepoRoot

// Server is one versitygw process serving the buckets in a temporary directory. It dies
// with the test process (the kernel sends it SIGKILL when the parent exits) even if Stop is
// never called.
type Server struct {
	// Endpoint is the base URL, http://127.0.0.1:PORT.
	Endpoint string
	// Port is the TCP port on 127.0.0.1; it stays the same across Pause and Resume.
	Port int

	bin     string
	dataDir string // the posix backend's root: one directory per bucket

	mu      sync.Mutex // guards proc across Pause, Resume and Stop
	proc    *process   // nil while paused or stopped
	stopped bool

	bucketSeq int
}

// process is one run of the binary.
type process struct {
	cmd     *exec.Cmd
	output  *testproc.TailBuffer
	exited  chan struct{} // closed once reaped
	waitErr error         // valid after exited is closed
}

// Start installs versitygw if needed, launches it on a free port over a new temporary
// directory and returns once it answers ListBuckets. ctx bounds the install and start-up,
// not the life of the server: call Stop for that.
func Start(ctx context.Context) (*Server, error) {
	root, err := testproc.RepoRoot("versitygw.sh")
	if err != nil {
		return nil, err
	}
	if err := ensureInstalled(ctx, root); err != nil {
		return nil, err
	}
	dataDir, err := os.MkdirTemp("", "s3local-")
	if err != nil {
		return nil, fmt.Errorf("data directory for versitygw: %w", err)
	}
	s := &Server{bin: filepath.Join(root, binPath), dataDir: dataDir}
	var lastErr error
	for range launchAttempts {
		port, err := testproc.FreePort()
		if err != nil {
			lastErr = err
			break
		}
		s.Port = port
		s.Endpoint = "http://127.0.0.1:" + strconv.Itoa(port)
		p, err := s.launch(ctx)
		if err == nil {
			s.proc = p
			return s, nil
		}
		lastErr = err
		if ctx.Err() != nil || !errors.Is(err, errPortTaken) {
			break
		}
	}
	_ = os.RemoveAll(dataDir)
	return nil, lastErr
}

// Stop ends the server and removes its data. It is safe to call more than once.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return
	}
	s.stopped = true
	s.kill()
	_ = os.RemoveAll(s.dataDir)
}

// Pause kills the process, keeping the port and the data: clients get connection refused
// until Resume. Pausing a paused server does nothing.
func (s *Server) Pause() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.kill()
}

// Resume starts the process again on the same port over the same data and returns once it
// answers. Resuming a running server does nothing.
func (s *Server) Resume(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return errors.New("s3local: resume of a stopped server")
	}
	if s.proc != nil {
		return nil
	}
	p, err := s.launch(ctx)
	if err != nil {
		return fmt.Errorf("s3local: resume on port %d: %w", s.Port, err)
	}
	s.proc = p
	return nil
}

// Restart is Pause then Resume.
func (s *Server) Restart(ctx context.Context) error {
	s.Pause()
	return s.Resume(ctx)
}

// Output returns the last lines the current (or last) process wrote, for failure messages.
func (s *Server) Output() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		return ""
	}
	return s.proc.output.String()
}

// crashed tells whether the running process ended without Pause or Stop.
func (s *Server) crashed() (bool, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		return false, ""
	}
	select {
	case <-s.proc.exited:
		return true, s.proc.output.String()
	default:
		return false, ""
	}
}

// kill ends the current process and waits until it is reaped, so the port is free; the
// caller holds mu.
func (s *Server) kill() {
	if s.proc == nil {
		return
	}
	_ = s.proc.cmd.Process.Kill()
	<-s.proc.exited
	s.proc = nil
}

var errPortTaken = errors.New("port taken before versitygw bound it")

func (s *Server) launch(ctx context.Context) (*process, error) {
	// Not CommandContext: ctx bounds start-up only; the process lives until Pause or Stop.
	cmd := exec.Command(s.bin,
		"--access", AccessKeyID, "--secret", SecretAccessKey, "--region", Region,
		"--port", "127.0.0.1:"+strconv.Itoa(s.Port), "--quiet",
		"posix", s.dataDir)
	out := testproc.NewTailBuffer(64 << 10)
	cmd.Stdout = out
	cmd.Stderr = out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", s.bin, err)
	}
	p := &process{cmd: cmd, output: out, exited: make(chan struct{})}
	// Owned by the process value; ends when the process does (kill waits for it).
	go func() {
		p.waitErr = cmd.Wait()
		close(p.exited)
	}()
	if err := s.waitReady(ctx, p); err != nil {
		_ = cmd.Process.Kill()
		<-p.exited
		return nil, err
	}
	return p, nil
}

// waitReady polls ListBuckets with the root credentials: another server that took the port
// would not accept them, so success means this process answers.
func (s *Server) waitReady(ctx context.Context, p *process) error {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	client := s.newClient(func(o *awss3.Options) { o.RetryMaxAttempts = 1 })
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var lastErr error
	for {
		callCtx, callCancel := context.WithTimeout(ctx, 5*time.Second)
		_, err := client.ListBuckets(callCtx, &awss3.ListBucketsInput{})
		callCancel()
		if err == nil {
			return nil
		}
		lastErr = err
		select {
		case <-p.exited:
			if strings.Contains(p.output.String(), "address already in use") {
				return fmt.Errorf("versitygw on port %d: %w", s.Port, errPortTaken)
			}
			return fmt.Errorf("versitygw exited during start-up (%v); its output:\n%s", p.waitErr, p.output.String())
		case <-ctx.Done():
			return fmt.Errorf("versitygw on port %d did not answer ListBuckets within %s (last error: %v); its output:\n%s",
				s.Port, readyTimeout, lastErr, p.output.String())
		case <-tick.C:
		}
	}
}

// ensureInstalled runs the install script, which checks the version stamp and returns at
// once when it matches, and takes a lock, so test binaries started together from a fresh
// clone build it once.
func ensureInstalled(ctx context.Context, root string) error {
	script := filepath.Join(root, "scripts", "versitygw.sh")
	out, err := exec.CommandContext(ctx, "bash", script, "install").CombinedOutput()
	if err != nil {
		return fmt.Errorf("install versitygw (%s install): %w: %s", script, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// newClient is the client Client returns, with extra options for internal use.
func (s *Server) newClient(optFns ...func(*awss3.Options)) *awss3.Client {
	cfg := s.AWSConfig()
	opts := append([]func(*awss3.Options){func(o *awss3.Options) {
		o.BaseEndpoint = aws.String(s.Endpoint)
		o.UsePathStyle = true
	}}, optFns...)
	return awss3.NewFromConfig(cfg, opts...)
}
