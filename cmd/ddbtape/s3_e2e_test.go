package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/ddbtape/ddbtape/writer"
)

// TestRestoreEndToEnd_S3DestinationCaptureSnapshotRestoreVerify runs the end-to-end scenario
// of the directory variant with an s3://bucket/prefix destination on versitygw, reached by
// the binary through the SDK's standard configuration (srv.Env, path-style addressing):
// capture, snapshot, status, verify and every restore read and write that bucket. The
// objects must then be in the bucket under the prefix: change segments, a snapshot
// manifest and the checkpoint.
func TestRestoreEndToEnd_S3DestinationCaptureSnapshotRestoreVerify(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 7*time.Minute)
	defer cancel()
	srv := ownVersitygw(ctx, t)
	bucket := srv.NewBucket(t)
	const prefix = "backups/prod/"

	table := restoreEndToEnd(ctx, t, "s3://"+bucket+"/"+prefix, srv.Env())

	keys := s3Keys(ctx, t, srv.Client(), bucket, prefix)
	var segments, manifests, checkpoints int
	for _, k := range keys {
		rel, ok := strings.CutPrefix(k, prefix)
		if !ok {
			t.Errorf("object %s is outside the prefix %s", k, prefix)
			continue
		}
		switch {
		case strings.HasPrefix(rel, writer.ChangesPrefix(table)):
			if _, ok := writer.ParseSegmentKey(rel); !ok {
				t.Errorf("object %s under the changes prefix is not a segment key", k)
			}
			segments++
		case strings.HasPrefix(rel, writer.SnapshotsPrefix(table)) && strings.HasSuffix(rel, "/"+writer.ManifestName):
			manifests++
		case strings.HasPrefix(rel, writer.CheckpointsPrefix(table)):
			checkpoints++
		}
	}
	t.Logf("s3://%s/%s holds %d segments, %d snapshot manifests, %d checkpoint objects", bucket, prefix, segments, manifests, checkpoints)
	if segments == 0 || manifests != 1 || checkpoints == 0 {
		t.Errorf("bucket %s under %s holds %d segments, %d snapshot manifests, %d checkpoint objects; want segments, one manifest and a checkpoint:\n%s",
			bucket, prefix, segments, manifests, checkpoints, strings.Join(keys, "\n"))
	}
}

// s3Keys lists every key of bucket under prefix.
func s3Keys(ctx context.Context, t *testing.T, client *s3.Client, bucket, prefix string) []string {
	t.Helper()
	var keys []string
	p := s3.NewListObjectsV2Paginator(client, &s3.ListObjectsV2Input{Bucket: &bucket, Prefix: &prefix})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatalf("list s3://%s/%s: %v", bucket, prefix, err)
		}
		for _, o := range page.Contents {
			keys = append(keys, *o.Key)
		}
	}
	return keys
}
