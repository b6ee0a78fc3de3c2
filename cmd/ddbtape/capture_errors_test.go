package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/ddbtape/ddbtape/internal/ddblocal"
)

// oneLine checks a failure is reported as a single line (no stack trace) containing want.
func oneLine(t *testing.T, r result, code int, want ...string) {
	t.Helper()
	if r.code != code {
		t.Errorf("exit status %d, want %d; stderr:\n%s", r.code, code, r.stderr)
	}
	lines := strings.Split(strings.TrimRight(r.stderr, "\n"), "\n")
	last := lines[len(lines)-1]
	for _, w := range want {
		if !strings.Contains(last, w) {
			t.Errorf("error line %q does not say %q", last, w)
		}
	}
	if strings.Contains(r.stderr, "goroutine ") || strings.Contains(r.stderr, "panic:") {
		t.Errorf("stderr has a Go stack trace:\n%s", r.stderr)
	}
}

func TestCapture_RefusesBadInputWithOneClearLine(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	db := ddblocal.Shared(t).DynamoDB()
	noStream := ddblocal.CreateTable(t, db, ddblocal.TableOptions{NoStream: true})
	keysOnly := ddblocal.CreateTable(t, db, ddblocal.TableOptions{StreamView: types.StreamViewTypeKeysOnly})
	oldImage := ddblocal.CreateTable(t, db, ddblocal.TableOptions{StreamView: types.StreamViewTypeOldImage})
	good := ddblocal.CreateTable(t, db, ddblocal.TableOptions{})
	dest := t.TempDir()

	cases := []struct {
		name string
		args []string
		code int
		want []string
	}{
		{"no flags", []string{"capture"}, 2, []string{"--table is required"}},
		{"unknown flag", []string{"capture", "--table", good, "--dest", dest, "--bogus"}, 2, []string{"bogus"}},
		{"bad start", []string{"capture", "--table", good, "--dest", dest, "--start", "yesterday"}, 2, []string{"--start"}},
		{"bad roll", []string{"capture", "--table", good, "--dest", dest, "--roll-records", "0"}, 2, []string{"records"}},
		{"bad table name", []string{"capture", "--table", "x", "--dest", dest}, 2, []string{"not a valid DynamoDB table name"}},
		{"no dest", []string{"capture", "--table", good}, 2, []string{"--dest is required"}},
		{"bad dest scheme", []string{"capture", "--table", good, "--dest", "gs://bucket/x"}, 2, []string{"gs://"}},
		{"unknown command", []string{"captur"}, 2, []string{"unknown command"}},
		{"missing table", []string{"capture", "--table", "no-such-table", "--dest", dest}, 1, []string{"no-such-table", "table not found"}},
		{"no stream", []string{"capture", "--table", noStream, "--dest", dest}, 1, []string{noStream, "no stream", "NEW_AND_OLD_IMAGES"}},
		{"keys only", []string{"capture", "--table", keysOnly, "--dest", dest}, 1, []string{"KEYS_ONLY", "NEW_AND_OLD_IMAGES"}},
		{"old image", []string{"capture", "--table", oldImage, "--dest", dest}, 1, []string{"OLD_IMAGE", "NEW_AND_OLD_IMAGES"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			oneLine(t, ddbtape(ctx, t, nil, c.args...), c.code, c.want...)
		})
	}

	t.Run("unwritable destination", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "a-file")
		if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
		oneLine(t, ddbtape(ctx, t, nil, "capture", "--table", good, "--dest", file), 1, "not writable")
	})

	t.Run("corrupt checkpoint is refused and kept", func(t *testing.T) {
		ckpt := t.TempDir()
		path := filepath.Join(ckpt, good+".json")
		garbage := []byte(`{"format_version": 1, "shards": {"x": {"sequence_number": "12`)
		if err := os.WriteFile(path, garbage, 0o644); err != nil {
			t.Fatal(err)
		}
		r := ddbtape(ctx, t, nil, "capture", "--table", good, "--dest", t.TempDir(), "--checkpoint", ckpt, "--until-idle", "1s")
		oneLine(t, r, 1, "corrupt", path)
		if got, _ := os.ReadFile(path); string(got) != string(garbage) {
			t.Errorf("the corrupt checkpoint was changed to %q", got)
		}
	})
}

func TestCapture_HelpExitsZero(t *testing.T) {
	r := ddbtape(context.Background(), t, nil, "capture", "-h")
	if r.code != 0 || !strings.Contains(r.stderr, "--until-idle") {
		t.Fatalf("capture -h: exit %d, stderr:\n%s", r.code, r.stderr)
	}
}
