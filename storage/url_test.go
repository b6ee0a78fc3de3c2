package storage

import (
	"strings"
	"testing"
)

func TestParseURL_AcceptsDirectoryFileAndS3Forms(t *testing.T) {
	tests := []struct {
		in   string
		want Location
	}{
		{"backup", Location{Scheme: "file", Path: "backup"}},
		{"./backup/", Location{Scheme: "file", Path: "backup"}},
		{"/var/lib/ddbtape", Location{Scheme: "file", Path: "/var/lib/ddbtape"}},
		{"file:///var/lib/ddbtape", Location{Scheme: "file", Path: "/var/lib/ddbtape"}},
		{"file://rel/dir", Location{Scheme: "file", Path: "rel/dir"}},
		{"FILE:///x", Location{Scheme: "file", Path: "/x"}},
		{"./odd://name", Location{Scheme: "file", Path: "odd:/name"}},
		{"s3://my-bucket", Location{Scheme: "s3", Bucket: "my-bucket"}},
		{"s3://my-bucket/", Location{Scheme: "s3", Bucket: "my-bucket"}},
		{"s3://my-bucket/backups", Location{Scheme: "s3", Bucket: "my-bucket", Prefix: "backups/"}},
		{"s3://my-bucket/backups/prod/", Location{Scheme: "s3", Bucket: "my-bucket", Prefix: "backups/prod/"}},
		{"s3://my.bucket.01//a//b", Location{Scheme: "s3", Bucket: "my.bucket.01", Prefix: "a/b/"}},
		{"S3://abc/dt=2026-01-01", Location{Scheme: "s3", Bucket: "abc", Prefix: "dt=2026-01-01/"}},
	}
	for _, tt := range tests {
		got, err := ParseURL(tt.in)
		if err != nil {
			t.Errorf("ParseURL(%q): %v", tt.in, err)
			continue
		}
		if got != tt.want {
			t.Errorf("ParseURL(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
	}
}

func TestParseURL_RejectsWithOneLineErrorNamingTheProblem(t *testing.T) {
	tests := []struct {
		in      string
		wantErr string
	}{
		{"", "empty destination: use a directory path, file:///path or s3://bucket/prefix"},
		{"   ", "empty destination"},
		{"gs://x", `unsupported destination "gs://x": use a directory path, file:///path or s3://bucket/prefix`},
		{"http://example.com/x", "unsupported destination"},
		{"file://", `destination "file://" has no path`},
		{"s3://", `destination "s3://" has no bucket`},
		{"s3:///prefix", "has no bucket"},
		{"s3://ab", "invalid S3 bucket name \"ab\": must be 3 to 63 characters"},
		{"s3://" + strings.Repeat("a", 64), "must be 3 to 63 characters"},
		{"s3://My-Bucket/x", "may contain only lowercase letters"},
		{"s3://my_bucket/x", "may contain only lowercase letters"},
		{"s3://-bucket", "must begin and end with a letter or digit"},
		{"s3://bucket.", "must begin and end with a letter or digit"},
		{"s3://a..b", "two adjacent periods"},
		{"s3://192.168.1.1/x", "IP address"},
		{"s3://bucket/a/../b", `prefix may not contain ".." segments`},
		{"s3://bucket/./b", `prefix may not contain "." segments`},
		{"a\x00b", "NUL byte"},
	}
	for _, tt := range tests {
		_, err := ParseURL(tt.in)
		if err == nil {
			t.Errorf("ParseURL(%q) succeeded, want error containing %q", tt.in, tt.wantErr)
			continue
		}
		if !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("ParseURL(%q) error = %q, want it to contain %q", tt.in, err, tt.wantErr)
		}
		if strings.Contains(err.Error(), "\n") {
			t.Errorf("ParseURL(%q) error spans several lines: %q", tt.in, err)
		}
	}
}

func TestLocation_StringParsesBackToTheSameLocation(t *testing.T) {
	for _, in := range []string{"backup", "/abs/dir", "file://gs:x", "s3://bucket", "s3://bucket/a/b/"} {
		loc, err := ParseURL(in)
		if err != nil {
			t.Fatalf("ParseURL(%q): %v", in, err)
		}
		again, err := ParseURL(loc.String())
		if err != nil || again != loc {
			t.Errorf("ParseURL(%q).String() = %q parses to %+v, %v; want %+v", in, loc.String(), again, err, loc)
		}
	}
}

// FuzzParseURL checks the invariants callers rely on: no panic, s3 locations have a valid
// bucket and a normalised prefix, and String parses back to the same Location.
func FuzzParseURL(f *testing.F) {
	for _, s := range []string{"backup", "file:///x", "s3://bucket/prefix", "s3://b.c-d/x//y/", "gs://x", "", "s3://", "a://b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		loc, err := ParseURL(s)
		if err != nil {
			if strings.Contains(err.Error(), "\n") && !strings.Contains(s, "\n") {
				t.Fatalf("multi-line error for %q: %q", s, err)
			}
			return
		}
		switch loc.Scheme {
		case "file":
			if loc.Path == "" || loc.Bucket != "" || loc.Prefix != "" {
				t.Fatalf("ParseURL(%q) = %+v: bad file location", s, loc)
			}
		case "s3":
			if err := validBucketName(loc.Bucket); err != nil || loc.Path != "" {
				t.Fatalf("ParseURL(%q) = %+v: bad bucket: %v", s, loc, err)
			}
			if loc.Prefix != "" && (!strings.HasSuffix(loc.Prefix, "/") || strings.HasPrefix(loc.Prefix, "/") || strings.Contains(loc.Prefix, "//")) {
				t.Fatalf("ParseURL(%q) prefix %q not normalised", s, loc.Prefix)
			}
		default:
			t.Fatalf("ParseURL(%q) = %+v: unknown scheme", s, loc)
		}
		again, err := ParseURL(loc.String())
		if err != nil || again != loc {
			t.Fatalf("ParseURL(%q) = %+v; its String %q parses to %+v, %v", s, loc, loc.String(), again, err)
		}
	})
}
