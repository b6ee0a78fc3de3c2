package ddblocal

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"
)

// startBudget bounds Main's install (a ~57 MB npm download on a fresh clone) and start-up.
const startBudget = 5 * time.Minute

// shared is the instance Main started for this test binary. A test fixture, not product
// state: it exists so every test of a package reuses one JVM.
var shared *Instance

// Main is for a package's TestMain:
//
//	func TestMain(m *testing.M) { ddblocal.Main(m) }
//
// It starts one instance, runs the tests, stops it and exits with the tests' code. If
// DynamoDB Local cannot start it prints why (what to install) and exits 1: tests that need
// it fail, never skip.
func Main(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	ctx, cancel := context.WithTimeout(context.Background(), startBudget)
	inst, err := Start(ctx)
	cancel()
	if err != nil {
		fmt.Fprintf(os.Stderr, "ddblocal: cannot start DynamoDB Local: %v\n", err)
		return 1
	}
	shared = inst
	defer inst.Stop()
	code := m.Run()
	select {
	case <-inst.Exited():
		// Otherwise the only trace of a crashed JVM is a wall of "connection refused".
		fmt.Fprintf(os.Stderr, "ddblocal: DynamoDB Local died during the tests; its output:\n%s\n", inst.Output())
		if code == 0 {
			code = 1
		}
	default:
	}
	return code
}

// Shared returns the instance started by Main. It fails the test if the package's TestMain
// does not call Main.
func Shared(t testing.TB) *Instance {
	t.Helper()
	if shared == nil {
		t.Fatal("ddblocal.Shared: no shared DynamoDB Local; add func TestMain(m *testing.M) { ddblocal.Main(m) } to the package's tests")
	}
	return shared
}
