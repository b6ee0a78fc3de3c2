package main

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// closedEndpoint is an http:// endpoint on this machine where nothing listens.
func closedEndpoint(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr
}

// A first contact that reaches nobody (a mistyped endpoint, DynamoDB Local or the S3
// server not started) is said in one line naming the service and the endpoint, within the
// first contact's bound (15 s) or --retry-bound when shorter, and leaves no destination
// behind.
func TestFirstContact_AnEndpointThatIsNotThereIsNamedAtOnceAndNothingIsCreated(t *testing.T) {
	end := closedEndpoint(t)
	tmp := t.TempDir()
	config := filepath.Join(tmp, "ddbtape.yaml")
	if err := os.WriteFile(config, []byte("region: us-east-1\nendpoint-url: "+end+"\nretry-bound: 4s\ndestination: "+filepath.Join(tmp, "run-dest")+
		"\ntables:\n  - name: first_contact\nhttp:\n  address: 127.0.0.1:0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	reported := regexp.MustCompile(` for ([0-9.]+m?s) while trying to `)
	for _, tc := range []struct {
		name  string
		env   []string
		args  []string
		dest  string
		bound time.Duration // what the message may say it took, at most
		want  string
	}{
		{"capture with --retry-bound", nil,
			[]string{"capture", "--table", "first_contact", "--dest", filepath.Join(tmp, "c1"), "--endpoint-url", end, "--retry-bound", "3s"},
			filepath.Join(tmp, "c1"), 3 * time.Second, "cannot reach DynamoDB at " + end + " (connection refused)"},
		{"capture with the default bound", nil,
			[]string{"capture", "--table", "first_contact", "--dest", filepath.Join(tmp, "c2"), "--endpoint-url", end},
			filepath.Join(tmp, "c2"), 15 * time.Second, "cannot reach DynamoDB at " + end + " (connection refused)"},
		{"run", nil, []string{"run", "--config", config},
			filepath.Join(tmp, "run-dest"), 4 * time.Second, "cannot reach DynamoDB at " + end + " (connection refused)"},
		{"snapshot", nil,
			[]string{"snapshot", "--table", "first_contact", "--dest", filepath.Join(tmp, "s1"), "--endpoint-url", end},
			filepath.Join(tmp, "s1"), 0, "cannot reach DynamoDB at " + end + " (connection refused)"},
		{"status of an S3 backup", []string{"AWS_ENDPOINT_URL_S3=" + end},
			[]string{"status", "--table", "first_contact", "--source", "s3://bucket/prefix"},
			"", 0, "cannot reach S3 at " + end + " (connection refused): check AWS_ENDPOINT_URL_S3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
			defer cancel()
			r := ddbtape(ctx, t, tc.env, tc.args...)
			lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
			last := lines[len(lines)-1]
			if r.code != 1 || !strings.Contains(last, tc.want) || !strings.Contains(last, "check ") {
				t.Fatalf("exit %d, last line %q; want exit 1 and a line with %q and what to check\nstderr:\n%s", r.code, last, tc.want, r.stderr)
			}
			if strings.Contains(last, "dial tcp") || strings.Contains(last, "resume from the last checkpoint") {
				t.Errorf("the line repeats the SDK's text or gives a resume advice to a first run: %q", last)
			}
			if tc.bound > 0 {
				m := reported.FindStringSubmatch(last)
				if m == nil {
					t.Fatalf("the line %q does not say how long it tried", last)
				}
				if took, err := time.ParseDuration(m[1]); err != nil || took > tc.bound {
					t.Errorf("tried for %s, want at most %v", m[1], tc.bound)
				}
			}
			if tc.dest != "" {
				if _, err := os.Stat(tc.dest); !os.IsNotExist(err) {
					t.Errorf("a failed first start left %s behind (%v)", tc.dest, err)
				}
			}
		})
	}
}

// Without credentials every command says in one line how to provide them (dummy ones for
// DynamoDB Local included), without the SDK's own warnings.
func TestFirstContact_MissingCredentialsNameEveryWayToGiveThem(t *testing.T) {
	noCreds := []string{"AWS_ACCESS_KEY_ID=", "AWS_SECRET_ACCESS_KEY=", "AWS_SESSION_TOKEN=", "AWS_PROFILE=",
		"AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(t.TempDir(), "none"), "AWS_CONFIG_FILE=" + filepath.Join(t.TempDir(), "none"),
		"AWS_EC2_METADATA_DISABLED=true", "AWS_CONTAINER_CREDENTIALS_FULL_URI=", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI=", "AWS_WEB_IDENTITY_TOKEN_FILE="}
	dest := filepath.Join(t.TempDir(), "dest")
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	r := ddbtape(ctx, t, noCreds, "capture", "--table", "first_contact", "--dest", dest)
	want := "ddbtape capture: no AWS credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE, or run with an IAM role (DynamoDB Local and test S3 servers accept any, e.g. AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local)\n"
	if r.code != 1 || r.stderr != want {
		t.Fatalf("exit %d, stderr %q; want exit 1 and %q", r.code, r.stderr, want)
	}
	if _, err := os.Stat(dest); !os.IsNotExist(err) {
		t.Errorf("a failed first start left %s behind (%v)", dest, err)
	}
}
