package s3local

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
)

// startBudget bounds Main's install (building versitygw from source on a fresh clone takes
// a few minutes on 2 cores) and start-up.
const startBudget = 10 * time.Minute

// shared is the server Main started for this test binary. A test fixture, not product
// state: it exists so every test of a package reuses one process.
var shared *Server

// Main is for a package's TestMain:
//
//	func TestMain(m *testing.M) { s3local.Main(m) }
//
// It starts one server, runs the tests, stops it and exits with the tests' code. If
// versitygw cannot start it prints why (what to install) and exits 1: tests that need it
// fail, never skip.
func Main(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	ctx, cancel := context.WithTimeout(context.Background(), startBudget)
	srv, err := Start(ctx)
	cancel()
	if err != nil {
		fmt.Fprintf(os.Stderr, "s3local: cannot start versitygw: %v\n", err)
		return 1
	}
	shared = srv
	defer srv.Stop()
	code := m.Run()
	if crashed, out := srv.crashed(); crashed {
		// Otherwise the only trace of a crashed gateway is a wall of "connection refused".
		fmt.Fprintf(os.Stderr, "s3local: versitygw died during the tests; its output:\n%s\n", out)
		if code == 0 {
			code = 1
		}
	}
	return code
}

// Shared returns the server started by Main. It fails the test if the package's TestMain
// does not call Main.
func Shared(t testing.TB) *Server {
	t.Helper()
	if shared == nil {
		t.Fatal("s3local.Shared: no shared versitygw; add func TestMain(m *testing.M) { s3local.Main(m) } to the package's tests")
	}
	return shared
}

// Client returns an S3 client for this server: path-style addressing, root credentials,
// the SDK's default retryer.
func (s *Server) Client() *awss3.Client { return s.newClient() }

// AWSConfig returns region and credentials for this server; the endpoint is not in it (set
// BaseEndpoint and UsePathStyle on the S3 client, or use Client).
func (s *Server) AWSConfig() aws.Config {
	return aws.Config{Region: Region, Credentials: credentials.NewStaticCredentialsProvider(AccessKeyID, SecretAccessKey, "")}
}

// Env returns the environment for a subprocess (the ddbtape binary) that must reach this
// server through the SDK's standard configuration chain. Append it to os.Environ(); later
// entries win.
func (s *Server) Env() []string {
	return []string{
		"AWS_ENDPOINT_URL_S3=" + s.Endpoint,
		"AWS_REGION=" + Region,
		"AWS_ACCESS_KEY_ID=" + AccessKeyID,
		"AWS_SECRET_ACCESS_KEY=" + SecretAccessKey,
		PathStyleEnv + "=true",
	}
}

var notBucketChars = regexp.MustCompile(`[^a-z0-9-]+`)

// NewBucket creates a bucket with a name unique on this server, derived from the test's
// name, and returns the name. The bucket goes with the server.
func (s *Server) NewBucket(t testing.TB) string {
	t.Helper()
	return s.newBucket(t, false)
}

// NewLockedBucket is NewBucket for a bucket created with S3 Object Lock enabled
// (x-amz-bucket-object-lock-enabled: true) and no default retention: an object written
// with a retention can be neither deleted nor overwritten until it ends. versitygw keeps
// one version per key (no --versioning-dir), so it refuses such a delete with 403
// AccessDenied where S3 would add a delete marker.
func (s *Server) NewLockedBucket(t testing.TB) string {
	t.Helper()
	return s.newBucket(t, true)
}

func (s *Server) newBucket(t testing.TB, locked bool) string {
	t.Helper()
	s.mu.Lock()
	s.bucketSeq++
	seq := s.bucketSeq
	s.mu.Unlock()
	base := strings.Trim(notBucketChars.ReplaceAllString(strings.ToLower(t.Name()), "-"), "-")
	name := fmt.Sprintf("t%d-%s", seq, base)
	if len(name) > 63 {
		name = strings.TrimRight(name[:63], "-")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	in := &awss3.CreateBucketInput{Bucket: aws.String(name)}
	if locked {
		in.ObjectLockEnabledForBucket = aws.Bool(true)
	}
	if _, err := s.Client().CreateBucket(ctx, in); err != nil {
		t.Fatalf("s3local: create bucket %s: %v", name, err)
	}
	return name
}
