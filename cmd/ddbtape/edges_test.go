package main

import (
	"context"
	"strings"
	"testing"
	"time"
)

func TestVersion_PrintsTheBuild(t *testing.T) {
	for _, arg := range []string{"--version", "version"} {
		res := runCLI(t, arg)
		if res.code != 0 || !strings.HasPrefix(res.stdout, "ddbtape ") || strings.Count(res.stdout, "\n") != 1 {
			t.Errorf("%s: exit %d, stdout %q", arg, res.code, res.stdout)
		}
	}
}

// -h lists flags as the README writes them, and flag mistakes name them the same way.
func TestFlags_HelpAndMistakesWriteFlagsWithTwoDashes(t *testing.T) {
	for _, c := range commands() {
		res := runCLI(t, c.Name, "-h")
		if res.code != 0 || !strings.Contains(res.stderr, "\n  --") {
			t.Errorf("%s -h: exit %d, no --flag lines:\n%s", c.Name, res.code, res.stderr)
		}
		for _, line := range strings.Split(res.stderr, "\n") {
			if strings.HasPrefix(line, "  -") && !strings.HasPrefix(line, "  --") {
				t.Errorf("%s -h lists %q with one dash", c.Name, line)
			}
		}
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"capture", "--table", "orders", "--dest", t.TempDir(), "--until-idle", "3"},
			"ddbtape capture: --until-idle 3: a duration needs a unit, e.g. 3s or 3m (see 'ddbtape capture -h')\n"},
		{[]string{"capture", "--nope"}, "ddbtape capture: unknown flag --nope (see 'ddbtape capture -h')\n"},
		{[]string{"status", "--table"}, "ddbtape status: flag needs an argument: --table (see 'ddbtape status -h')\n"},
		{[]string{"snapshot", "--segments", "x"}, "ddbtape snapshot: invalid value \"x\" for flag --segments: parse error (see 'ddbtape snapshot -h')\n"},
	} {
		if res := runCLI(t, tc.args...); res.code != 2 || res.stderr != tc.want {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", tc.args, res.code, res.stderr, tc.want)
		}
	}
}

// verify compares the backup with the table it was taken of: a missing table is not
// something --create (a restore's flag) can help with.
func TestVerify_AMissingLiveTableSaysWhatToCheck(t *testing.T) {
	src := bookBackupOf(t, "verify_missing_live", nil)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	res := ddbtape(ctx, t, nil, "verify", "--source", src, "--table", "verify_missing_live")
	if res.code != 1 || strings.Contains(res.stderr, "--create") || !strings.Contains(res.stderr, "check --table, --region and --endpoint-url") ||
		strings.Count(strings.TrimSpace(res.stderr), "\n") != 0 {
		t.Errorf("exit %d, stderr %q; want exit 1 and one line saying what to check, without --create", res.code, res.stderr)
	}
}
