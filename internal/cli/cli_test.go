package cli

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"
	"testing"
	"time"
)

type settingErr struct{}

func (settingErr) Error() string { return "bad setting" }
func (settingErr) Setting()      {}

var errDeclined = errors.New("plan shown, not confirmed")

func testApp(err error) App {
	return App{Name: "tool", Version: func() string { return "tool v1" },
		Declined: func(e error) bool { return errors.Is(e, errDeclined) },
		Commands: []Command{{Name: "go", Summary: "does it", Run: func(context.Context, *Env, []string) error { return err }}}}
}

func runApp(a App, args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := a.Run(context.Background(), &Env{Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" }}, args)
	return code, out.String(), errb.String()
}

func TestApp_ExitStatusesAndOneLine(t *testing.T) {
	cases := []struct {
		err  error
		code int
		line string
	}{
		{nil, 0, ""},
		{flag.ErrHelp, 0, ""},
		{Usagef("--x is wrong"), 2, "tool go: --x is wrong (see 'tool go -h')\n"},
		{fmt.Errorf("opening: %w", settingErr{}), 2, "tool go: opening: bad setting (see 'tool go -h')\n"},
		{errDeclined, 2, "tool go: plan shown, not confirmed\n"},
		{errors.New("boom"), 1, "tool go: boom\n"},
	}
	for _, c := range cases {
		code, _, stderr := runApp(testApp(c.err), "go")
		if code != c.code || stderr != c.line {
			t.Errorf("%v: exit %d, stderr %q; want %d, %q", c.err, code, stderr, c.code, c.line)
		}
	}
	if code, _, stderr := runApp(testApp(nil), "nope"); code != 2 || !strings.Contains(stderr, `unknown command "nope"`) {
		t.Errorf("unknown command: exit %d, %q", code, stderr)
	}
	if code, stdout, _ := runApp(testApp(nil), "--version"); code != 0 || stdout != "tool v1\n" {
		t.Errorf("--version: exit %d, %q", code, stdout)
	}
	if code, _, stderr := runApp(testApp(nil)); code != 2 || !strings.Contains(stderr, "go        does it") {
		t.Errorf("no command: exit %d, usage %q", code, stderr)
	}
}

func TestParse_FlagMistakesSayTwoDashesAndADurationItsUnit(t *testing.T) {
	e := &Env{Stdout: &bytes.Buffer{}, Stderr: &bytes.Buffer{}}
	cases := map[string]string{
		"--nope":         "unknown flag --nope",
		"--wait 3":       "--wait 3: a duration needs a unit, e.g. 3s or 3m",
		"--wait":         "flag needs an argument: --wait",
		"--count x":      `invalid value "x" for flag --count`,
		"--count 1 left": `unexpected argument "left"`,
	}
	for args, want := range cases {
		fs := NewFlagSet(e, "go", "[flags]")
		fs.Duration("wait", time.Second, "how long")
		fs.Int("count", 1, "how many")
		err := Parse(fs, strings.Fields(args))
		if !IsUsage(err) || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want a usage error containing %q", args, err, want)
		}
	}
	fs := NewFlagSet(e, "go", "[flags]")
	fs.Duration("wait", time.Second, "how long")
	if err := Parse(fs, []string{"-h"}); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-h: %v", err)
	}
	if help := e.Stderr.(*bytes.Buffer).String(); !strings.Contains(help, "usage: ddbtape go [flags]") || !strings.Contains(help, "  --wait duration") {
		t.Errorf("-h printed %q", help)
	}
}

func TestRequireTableNonNegativeAndStrings(t *testing.T) {
	for _, name := range []string{"", "ab", "has space", strings.Repeat("x", 256)} {
		if err := RequireTable(name); !IsUsage(err) {
			t.Errorf("RequireTable(%q) = %v, want a usage error", name, err)
		}
	}
	if err := RequireTable("orders.v2_x-y"); err != nil {
		t.Errorf("RequireTable: %v", err)
	}
	if err := NonNegative(map[string]time.Duration{"a": 0, "b": -time.Second}); err == nil || err.Error() != "--b must not be negative, got -1s" {
		t.Errorf("NonNegative = %v", err)
	}
	var s Strings
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	fs.Var(&s, "table", "")
	if err := fs.Parse([]string{"--table", "a", "--table", "b"}); err != nil || s.String() != "a,b" {
		t.Errorf("Strings = %v, %v", s, err)
	}
}

func TestLogFlags_RefuseUnknownLevelsAndFormats(t *testing.T) {
	e := &Env{Stderr: &bytes.Buffer{}}
	for _, l := range []LogFlags{{Level: "loud", Format: "text"}, {Level: "info", Format: "xml"}} {
		if _, err := l.Logger(e); !IsUsage(err) {
			t.Errorf("%+v: %v, want a usage error", l, err)
		}
	}
	if _, err := (&LogFlags{Level: "debug", Format: "json"}).Logger(e); err != nil {
		t.Error(err)
	}
}
