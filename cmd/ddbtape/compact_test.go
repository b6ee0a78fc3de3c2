package main

import (
	"bytes"
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ddbtape/ddbtape/internal/cli"
)

// runCompactCLI runs `ddbtape compact` in process (main.go's command list is another's
// to edit; see the report).
func runCompactCLI(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	e := &cli.Env{Stdout: &stdout, Stderr: &stderr, Getenv: func(string) string { return "" }}
	err := runCompact(context.Background(), e, args)
	return stdout.String(), stderr.String(), err
}

func TestCompactCommand_BuildsASnapshotThatLatestRestoresStartFrom(t *testing.T) {
	root, _, _, state := ledgerHistory(t)
	out, errOut, err := runCompactCLI(t, "--source", root, "--table", "ledger", "--temp-dir", t.TempDir())
	if err != nil {
		t.Fatalf("compact: %v\n%s", err, errOut)
	}
	end := fixtureT0.Add(6 * time.Hour)
	if !strings.Contains(out, "of ledger at "+end.Format(time.RFC3339)+": 5 items") {
		t.Fatalf("compact printed %q", out)
	}
	id := strings.Fields(out)[1]

	file := filepath.Join(t.TempDir(), "latest.json")
	res := runCLI(t, "restore", "--source", root, "--table", "ledger", "--at", "latest", "--to-file", file)
	if res.code != 0 || !strings.Contains(res.stderr, "from snapshot "+id) {
		t.Fatalf("restore at latest: exit %d, want it to start from %s: %s", res.code, id, res.stderr)
	}
	var want []string
	for _, item := range state(end) {
		want = append(want, `{"Item":`+item+`}`)
	}
	slices.Sort(want)
	if got := readItems(t, file); !slices.Equal(got, want) {
		t.Errorf("restore from the compaction:\n%v\nwant\n%v", got, want)
	}

	// Again: nothing new since, which is not a failure.
	_, errOut, err = runCompactCLI(t, "--source", root, "--table", "ledger")
	if err != nil || !strings.Contains(errOut, "nothing to compact") {
		t.Errorf("second compact = %v, stderr %q; want nothing to compact", err, errOut)
	}
	// A time outside the window is refused naming it.
	_, _, err = runCompactCLI(t, "--source", root, "--table", "ledger", "--at", end.Add(time.Hour).Format(time.RFC3339))
	if err == nil || !strings.Contains(err.Error(), "restorable window") {
		t.Errorf("compact past the window = %v, want the window named", err)
	}
}
