package s3_test

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/ddbtape/ddbtape/checkpoint"
	"github.com/ddbtape/ddbtape/checkpoint/checkpointtest"
	"github.com/ddbtape/ddbtape/checkpoint/file"
	"github.com/ddbtape/ddbtape/internal/faultproxy"
	"github.com/ddbtape/ddbtape/internal/s3local"
	"github.com/ddbtape/ddbtape/storage"
	"github.com/ddbtape/ddbtape/storage/s3"
	"github.com/ddbtape/ddbtape/storage/storagetest"
)

func TestMain(m *testing.M) { s3local.Main(m) }

// client is what the CLI builds, pointed at endpoint (the server or a proxy before it).
func client(t *testing.T, endpoint string) *awss3.Client {
	return s3.NewClient(s3local.Shared(t).AWSConfig(), s3.ClientOptions{PathStyle: true, Endpoint: endpoint})
}

func newBucket(t *testing.T, prefix string, opts s3.Options) (*s3.Bucket, string) {
	srv := s3local.Shared(t)
	name := srv.NewBucket(t)
	return s3.New(client(t, srv.Endpoint), name, prefix, opts), name
}

func TestBucket_SuiteOverVersitygw(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Bucket {
		b, _ := newBucket(t, "", s3.Options{})
		return b
	})
}

func TestBucket_SuiteOverVersitygwUnderAPrefix(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Bucket {
		b, _ := newBucket(t, "backups/prod/", s3.Options{})
		return b
	})
}

func TestFileCheckpointStore_SuiteOverVersitygw(t *testing.T) {
	checkpointtest.Run(t, func(t *testing.T) checkpoint.Store {
		b, _ := newBucket(t, "backups/", s3.Options{})
		return file.New(b, "orders/checkpoints/")
	})
}

func randomBytes(t *testing.T, n int) []byte {
	data := make([]byte, n)
	if _, err := rand.Read(data); err != nil {
		t.Fatal(err)
	}
	return data
}

func read(t *testing.T, b storage.Bucket, key string) []byte {
	t.Helper()
	rc, err := b.Open(t.Context(), key)
	if err != nil {
		t.Fatalf("Open(%q): %v", key, err)
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func pendingUploads(t *testing.T, bucket string) int {
	t.Helper()
	out, err := s3local.Shared(t).Client().ListMultipartUploads(t.Context(), &awss3.ListMultipartUploadsInput{Bucket: aws.String(bucket)})
	if err != nil {
		t.Fatalf("list multipart uploads: %v", err)
	}
	return len(out.Uploads)
}

func TestBucket_LargeBodiesGoInAMultipartUploadAndRoundTrip(t *testing.T) {
	b, name := newBucket(t, "p/", s3.Options{PartSize: s3.MinPartSize})
	// Three parts, the last short; and a body of exactly one part, which needs none.
	for key, size := range map[string]int{"t/big.parquet": 2*s3.MinPartSize + 12345, "t/one.parquet": s3.MinPartSize} {
		want := randomBytes(t, size)
		if err := b.Create(t.Context(), key, bytes.NewReader(want)); err != nil {
			t.Fatalf("Create(%q): %v", key, err)
		}
		if got := read(t, b, key); !bytes.Equal(got, want) {
			t.Fatalf("%s: read %d bytes, want the %d written", key, len(got), len(want))
		}
	}
	if n := pendingUploads(t, name); n != 0 {
		t.Fatalf("%d multipart uploads left pending", n)
	}
}

func TestBucket_MultipartCreateOverAnExistingKeyIsErrExistsAndAborts(t *testing.T) {
	b, name := newBucket(t, "", s3.Options{PartSize: s3.MinPartSize})
	if err := b.Put(t.Context(), "seg", strings.NewReader("original")); err != nil {
		t.Fatal(err)
	}
	err := b.Create(t.Context(), "seg", bytes.NewReader(randomBytes(t, s3.MinPartSize+1)))
	if !errors.Is(err, storage.ErrExists) {
		t.Fatalf("multipart Create over an existing key = %v, want ErrExists", err)
	}
	if got := read(t, b, "seg"); string(got) != "original" {
		t.Fatalf("existing object changed to %d bytes", len(got))
	}
	if n := pendingUploads(t, name); n != 0 {
		t.Fatalf("%d multipart uploads left pending after the refused Create", n)
	}
	// A multipart Put replaces it.
	want := randomBytes(t, s3.MinPartSize+1)
	if err := b.Put(t.Context(), "seg", bytes.NewReader(want)); err != nil {
		t.Fatal(err)
	}
	if got := read(t, b, "seg"); !bytes.Equal(got, want) {
		t.Fatal("multipart Put did not replace the object")
	}
}

// failAfter yields n bytes, then fails: a writer that dies in the middle of a later part.
type failAfter struct{ n int }

func (r *failAfter) Read(p []byte) (int, error) {
	if r.n == 0 {
		return 0, errors.New("source died")
	}
	n := min(len(p), r.n)
	clear(p[:n])
	r.n -= n
	return n, nil
}

func TestBucket_MultipartWriteThatFailsMidwayLeavesNothing(t *testing.T) {
	b, name := newBucket(t, "", s3.Options{PartSize: s3.MinPartSize})
	if err := b.Create(t.Context(), "seg", &failAfter{n: s3.MinPartSize + s3.MinPartSize/2}); err == nil {
		t.Fatal("Create with a body that fails succeeded")
	}
	if _, err := b.Open(t.Context(), "seg"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("Open after failed multipart Create = %v, want ErrNotFound", err)
	}
	if n := pendingUploads(t, name); n != 0 {
		t.Fatalf("%d multipart uploads left pending after the failure", n)
	}
}

func TestBucket_WritesSurviveSlowDownAndServerErrors(t *testing.T) {
	srv := s3local.Shared(t)
	proxy := faultproxy.Start(srv.Endpoint)
	defer proxy.Close()
	name := srv.NewBucket(t)
	b := s3.New(client(t, proxy.URL()), name, "", s3.Options{})
	proxy.Add(
		faultproxy.Rule{Method: "PUT", Fault: faultproxy.S3SlowDown, Next: 1},
		faultproxy.Rule{Method: "PUT", Fault: faultproxy.S3InternalError, Next: 1},
		faultproxy.Rule{Method: "GET", Fault: faultproxy.S3SlowDown, Next: 1},
	)
	if err := b.Create(t.Context(), "t/seg", strings.NewReader("data")); err != nil {
		t.Fatalf("Create through 2 faults: %v", err)
	}
	if got := read(t, b, "t/seg"); string(got) != "data" {
		t.Fatalf("read %q", got)
	}
	if got := proxy.Injected("S3SlowDown") + proxy.Injected("S3InternalError"); got != 3 {
		t.Fatalf("%d faults injected, want 3", got)
	}
}

func TestBucket_ConditionalConflictIsRetriedNotTakenAsExisting(t *testing.T) {
	srv := s3local.Shared(t)
	proxy := faultproxy.Start(srv.Endpoint)
	defer proxy.Close()
	name := srv.NewBucket(t)
	b := s3.New(client(t, proxy.URL()), name, "", s3.Options{})
	conflict := faultproxy.Fault{
		Name: "Conflict", Action: faultproxy.Respond, Status: 409, ContentType: "application/xml",
		Body: `<?xml version="1.0" encoding="UTF-8"?><Error><Code>ConditionalRequestConflict</Code><Message>A conflicting conditional operation is currently in progress against this resource.</Message></Error>`,
	}
	proxy.Add(faultproxy.Rule{Method: "PUT", Fault: conflict, Next: 2})
	if err := b.Create(t.Context(), "t/seg", strings.NewReader("data")); err != nil {
		t.Fatalf("Create after two 409s: %v", err)
	}
	if proxy.Injected("Conflict") != 2 {
		t.Fatalf("%d conflicts injected, want 2", proxy.Injected("Conflict"))
	}
	if got := read(t, b, "t/seg"); string(got) != "data" {
		t.Fatalf("read %q", got)
	}
}

func TestBucket_MissingBucketIsANamedError(t *testing.T) {
	b := s3.New(client(t, s3local.Shared(t).Endpoint), "no-such-bucket-here", "", s3.Options{})
	for name, err := range map[string]error{
		"Put":  b.Put(t.Context(), "k", strings.NewReader("x")),
		"List": func() error { _, err := b.List(t.Context(), ""); return err }(),
		"Open": func() error { _, err := b.Open(t.Context(), "k"); return err }(),
	} {
		if !errors.Is(err, s3.ErrNoSuchBucket) {
			t.Errorf("%s on a missing bucket = %v, want ErrNoSuchBucket", name, err)
		}
	}
}

func TestBucket_URLNamesBucketAndPrefix(t *testing.T) {
	b := s3.New(client(t, "http://127.0.0.1:1"), "bkt", "backups/", s3.Options{})
	if got, want := storage.URL(b, "t/x.json"), "s3://bkt/backups/t/x.json"; got != want {
		t.Fatalf("URL = %q, want %q", got, want)
	}
}

// stallAfter yields n zero bytes, then blocks until release is closed, then ends.
type stallAfter struct {
	n       int
	stalled chan struct{}
	release chan struct{}
}

func (r *stallAfter) Read(p []byte) (int, error) {
	if r.n == 0 {
		close(r.stalled)
		<-r.release
		return 0, io.EOF
	}
	n := min(len(p), r.n)
	clear(p[:n])
	r.n -= n
	return n, nil
}

func TestBucket_MultipartUploadIsInvisibleUntilCompleted(t *testing.T) {
	b, name := newBucket(t, "", s3.Options{PartSize: s3.MinPartSize})
	body := &stallAfter{n: s3.MinPartSize + s3.MinPartSize/2, stalled: make(chan struct{}), release: make(chan struct{})}
	done := make(chan error, 1)
	go func() { done <- b.Create(t.Context(), "t/seg", body) }()
	select {
	case <-body.stalled:
	case err := <-done:
		t.Fatalf("Create returned %v before reading its body", err)
	}
	// Part 1 is uploaded, part 2 half read: nothing may be visible yet.
	if n := pendingUploads(t, name); n != 1 {
		t.Errorf("%d multipart uploads in progress, want 1", n)
	}
	if _, err := b.Open(t.Context(), "t/seg"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Open during the upload = %v, want ErrNotFound", err)
	}
	if objs, err := b.List(t.Context(), "t/"); err != nil || len(objs) != 0 {
		t.Errorf("List during the upload = %v, %v; want nothing", objs, err)
	}
	close(body.release)
	if err := <-done; err != nil {
		t.Fatalf("Create: %v", err)
	}
	if got := read(t, b, "t/seg"); len(got) != s3.MinPartSize+s3.MinPartSize/2 {
		t.Fatalf("read %d bytes after completion", len(got))
	}
}
