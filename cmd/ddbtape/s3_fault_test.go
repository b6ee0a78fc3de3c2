package main

import (
	"context"
	"encoding/json"
	"io"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/ddbtape/ddbtape/checkpoint"
	"github.com/ddbtape/ddbtape/internal/ddblocal"
	"github.com/ddbtape/ddbtape/internal/workload"
	"github.com/ddbtape/ddbtape/shards"
	"github.com/ddbtape/ddbtape/writer"
)

// s3Records reads back every change segment of table under s3://bucket/prefix.
func s3Records(ctx context.Context, t *testing.T, client *s3.Client, bucket, prefix, table string) []streamRecord {
	t.Helper()
	var recs []streamRecord
	p := s3.NewListObjectsV2Paginator(client, &s3.ListObjectsV2Input{Bucket: &bucket, Prefix: strPtr(prefix + writer.ChangesPrefix(table))})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatalf("list: %v", err)
		}
		for _, o := range page.Contents {
			key := strings.TrimPrefix(*o.Key, prefix)
			if _, ok := writer.ParseSegmentKey(key); !ok {
				t.Fatalf("unexpected object %s", key)
			}
			out, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: &bucket, Key: o.Key})
			if err != nil {
				t.Fatal(err)
			}
			data, err := io.ReadAll(out.Body)
			out.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			changes, err := writer.ReadChanges(data)
			if err != nil {
				t.Fatalf("%s: %v", key, err)
			}
			for _, c := range changes {
				r := streamRecord{shard: c.ShardID, seq: c.SequenceNumber, eventID: c.EventID, eventName: c.EventName, keys: c.Keys}
				if c.NewImage != nil {
					r.newImage = *c.NewImage
				}
				if c.OldImage != nil {
					r.oldImage = *c.OldImage
				}
				recs = append(recs, r)
			}
		}
	}
	return recs
}

func strPtr(s string) *string { return &s }

// checkpointSeqs reads the file checkpoint store's document: shard -> sequence number.
func checkpointSeqs(t *testing.T, path string) map[string]string {
	t.Helper()
	data, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Shards map[string]checkpoint.Position `json:"shards"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatalf("checkpoint %s: %v", path, err)
	}
	out := map[string]string{}
	for id, p := range doc.Shards {
		out[id] = p.SequenceNumber
	}
	return out
}

func TestCapture_S3OutageHoldsCheckpointsAndLosesNothing(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	srv := ownVersitygw(ctx, t)
	bucket := srv.NewBucket(t)
	local := ddblocal.Shared(t)
	db := local.DynamoDB()
	table := ddblocal.CreateTable(t, db, ddblocal.TableOptions{})
	w := workload.New(db, table, 3, 100)
	if err := w.Run(ctx, 200); err != nil {
		t.Fatal(err)
	}
	ckptDir := t.TempDir()
	ckptFile := filepath.Join(ckptDir, table+".json")
	dest := "s3://" + bucket + "/backups/"
	spool := t.TempDir()
	cmd := ddbtapeCommand(ctx, t, srv.Env(), "capture", "--table", table, "--dest", dest, "--checkpoint", ckptDir,
		"--roll-records", "50", "--roll-age", "500ms", "--poll-interval", "100ms", "--spool-dir", spool)
	stderr := &syncBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Stored and checkpointed: a checkpoint save still on its way when S3 goes away would
	// move the checkpoint during the outage, rightly, since its segment is stored.
	waitFor(t, 2*time.Minute, "the first 200 records stored and checkpointed", func() bool {
		stored := s3Records(ctx, t, srv.Client(), bucket, "backups/", table)
		return len(stored) == 200 && maps.Equal(checkpointSeqs(t, ckptFile), lastSeqs(stored))
	})

	srv.Pause() // S3 goes away while writes go on
	before := checkpointSeqs(t, ckptFile)
	if err := w.Run(ctx, 200); err != nil {
		t.Fatal(err)
	}
	// Capture reads the new records (it polls every 100 ms) into a segment in its spool
	// directory, which stays there while the upload is retried.
	waitFor(t, 2*time.Minute, "capture to read new records it cannot store", func() bool { return spooled(t, spool) > 0 })
	during := checkpointSeqs(t, ckptFile)
	// Capture has read the new records (it polls every 100 ms) but cannot store them:
	// its checkpoints must not have moved.
	for shard, seq := range during {
		if seq != before[shard] {
			t.Fatalf("shard %s checkpoint moved from %s to %s while S3 was down", shard, before[shard], seq)
		}
	}
	if err := srv.Resume(ctx); err != nil {
		t.Fatal(err)
	}
	// Every record the checkpoint claimed during the outage was already stored before it.
	last := lastSeqs(s3Records(ctx, t, srv.Client(), bucket, "backups/", table))
	for shard, seq := range during {
		if shards.SequenceNumber(seq).Key() > shards.SequenceNumber(last[shard]).Key() {
			t.Fatalf("during the outage shard %s was checkpointed at %s, past the last stored record %s", shard, seq, last[shard])
		}
	}
	waitFor(t, 90*time.Second, "all 400 records stored after S3 came back", func() bool {
		return len(s3Records(ctx, t, srv.Client(), bucket, "backups/", table)) >= 400
	})
	_ = cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("capture after SIGTERM: %v\n%s", err, stderr.String())
	}
	stream := drainStream(ctx, t, local.Streams(), ddblocal.StreamARN(t, db, table))
	compareRecords(t, stream, s3Records(ctx, t, srv.Client(), bucket, "backups/", table), true)
}

// spooled counts the files under a capture's --spool-dir: segments being written.
func spooled(t *testing.T, dir string) int {
	t.Helper()
	n := 0
	err := filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			n++
		}
		if os.IsNotExist(err) {
			return nil // removed while walking
		}
		return err
	})
	if err != nil {
		t.Fatalf("list spool: %v", err)
	}
	return n
}

// lastSeqs is the highest sequence number stored per shard.
func lastSeqs(recs []streamRecord) map[string]string {
	last := map[string]string{}
	for _, r := range recs {
		if shards.SequenceNumber(r.seq).Key() > shards.SequenceNumber(last[r.shard]).Key() {
			last[r.shard] = r.seq
		}
	}
	return last
}

// waitFor polls cond until it holds or the time is up.
func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
