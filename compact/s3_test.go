package compact

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/ddbtape/ddbtape/catalog"
	"github.com/ddbtape/ddbtape/internal/faultproxy"
	"github.com/ddbtape/ddbtape/internal/s3local"
	"github.com/ddbtape/ddbtape/storage"
	"github.com/ddbtape/ddbtape/storage/s3"
	"github.com/ddbtape/ddbtape/writer"
)

func TestMain(m *testing.M) { s3local.Main(m) }

// onManifest calls before just before the manifest is written.
type onManifest struct {
	storage.Bucket
	before func()
}

func (b onManifest) Create(ctx context.Context, key string, r io.Reader) error {
	if strings.HasSuffix(key, "/"+writer.ManifestName) {
		b.before()
	}
	return b.Bucket.Create(ctx, key, r)
}

// The lost response for real: versitygw behind the fault proxy, which forwards the
// manifest's PUT (the object is committed) and resets the connection instead of
// answering. The SDK retries the PUT, and the retry's If-None-Match is refused with 412.
func TestRun_OverS3AManifestPUTWhoseResponseIsLostKeepsTheSnapshot(t *testing.T) {
	ctx := context.Background()
	h := newHistory(t, 4)
	srv := s3local.Shared(t)
	proxy := faultproxy.Start(srv.Endpoint)
	defer proxy.Close()
	b := s3.New(s3.NewClient(srv.AWSConfig(), s3.ClientOptions{PathStyle: true, Endpoint: proxy.URL(), MaxBackoff: 100 * time.Millisecond}),
		srv.NewBucket(t), "backups/", s3.Options{})
	objs, err := h.Bucket.List(ctx, testTable+"/")
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		rc, err := h.Bucket.Open(ctx, o.Key)
		if err != nil {
			t.Fatal(err)
		}
		err = b.Put(ctx, o.Key, rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
	}

	lose := func() { proxy.Add(faultproxy.Rule{Method: "PUT", Fault: faultproxy.ConnectionResetAfter, Next: 1}) }
	res, err := Run(ctx, catalog.New(onManifest{Bucket: b, before: lose}, testTable, h.B.Checkpoints()), Config{At: at("02:37").Add(20 * time.Second),
		SpoolDir: t.TempDir(), Part: writer.PartPolicy{MaxRows: 4, MaxBytes: 1 << 20}})
	if n := proxy.Injected("ConnectionResetAfter"); n != 1 {
		t.Fatalf("%d responses lost, want the manifest's", n)
	}
	if err != nil {
		t.Fatalf("Run = %v, want success: the manifest was stored", err)
	}
	if got := readManifest(ctx, t, b, res.Manifest.SnapshotID); got == nil || len(got.Parts) != len(res.Manifest.Parts) {
		t.Fatalf("stored manifest %+v, want the one Run returned", got)
	}
	h.CheckSnapshotsWhole(t, b)
	h.CheckRestores(t, b)
}
