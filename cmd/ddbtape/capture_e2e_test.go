package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"

	"github.com/ddbtape/ddbtape/ddbjson"
	"github.com/ddbtape/ddbtape/internal/ddblocal"
	"github.com/ddbtape/ddbtape/internal/workload"
	"github.com/ddbtape/ddbtape/shards"
	"github.com/ddbtape/ddbtape/writer"
)

// streamRecord is what the test compares between the stream and the segments.
type streamRecord struct {
	shard, seq, eventID, eventName, keys string
	newImage, oldImage                   string // "" when absent
}

func (r streamRecord) id() string { return r.shard + "/" + shards.SequenceNumber(r.seq).Key() }

// drainStream reads every record of a table's stream straight from DynamoDB Streams, the
// reference a capture must reproduce.
func drainStream(ctx context.Context, t *testing.T, api *dynamodbstreams.Client, streamARN string) []streamRecord {
	t.Helper()
	var shardList []types.Shard
	var start *string
	for {
		out, err := api.DescribeStream(ctx, &dynamodbstreams.DescribeStreamInput{StreamArn: &streamARN, ExclusiveStartShardId: start})
		if err != nil {
			t.Fatalf("describe stream: %v", err)
		}
		shardList = append(shardList, out.StreamDescription.Shards...)
		if start = out.StreamDescription.LastEvaluatedShardId; start == nil {
			break
		}
	}
	var recs []streamRecord
	for _, sh := range shardList {
		it, err := api.GetShardIterator(ctx, &dynamodbstreams.GetShardIteratorInput{StreamArn: &streamARN, ShardId: sh.ShardId, ShardIteratorType: types.ShardIteratorTypeTrimHorizon})
		if err != nil {
			t.Fatalf("get shard iterator: %v", err)
		}
		iter := it.ShardIterator
		for iter != nil {
			out, err := api.GetRecords(ctx, &dynamodbstreams.GetRecordsInput{ShardIterator: iter})
			if err != nil {
				t.Fatalf("get records: %v", err)
			}
			for _, r := range out.Records {
				recs = append(recs, fromStream(t, *sh.ShardId, r))
			}
			if len(out.Records) == 0 {
				break // the open shard's tip
			}
			iter = out.NextShardIterator
		}
	}
	return recs
}

func fromStream(t *testing.T, shard string, r types.Record) streamRecord {
	t.Helper()
	enc := func(m map[string]types.AttributeValue) string {
		if m == nil {
			return ""
		}
		s, err := ddbjson.FromStreams(m)
		if err != nil {
			t.Fatalf("encode image: %v", err)
		}
		return s
	}
	return streamRecord{shard: shard, seq: *r.Dynamodb.SequenceNumber, eventID: aws.ToString(r.EventID), eventName: string(r.EventName),
		keys: enc(r.Dynamodb.Keys), newImage: enc(r.Dynamodb.NewImage), oldImage: enc(r.Dynamodb.OldImage)}
}

// segmentRecords reads back every change segment under dest for table, in file order.
func segmentRecords(t *testing.T, dest, table string) (recs []streamRecord, files int) {
	t.Helper()
	root := filepath.Join(dest, table, "changes")
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".parquet") {
			return err
		}
		rel, _ := filepath.Rel(dest, path)
		name, ok := writer.ParseSegmentKey(filepath.ToSlash(rel))
		if !ok {
			return fmt.Errorf("%s is not a segment name", rel)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		changes, err := writer.ReadChanges(data)
		if err != nil {
			return fmt.Errorf("read %s: %w", rel, err)
		}
		if len(changes) == 0 {
			return fmt.Errorf("segment %s is empty", rel)
		}
		first, last := changes[0], changes[len(changes)-1]
		if shards.SequenceNumber(first.SequenceNumber).Key() != name.FirstSeq || shards.SequenceNumber(last.SequenceNumber).Key() != name.LastSeq || first.ShardID != name.ShardID {
			return fmt.Errorf("segment %s: name does not match content (%s..%s of %s)", rel, first.SequenceNumber, last.SequenceNumber, first.ShardID)
		}
		if want := first.ApproximateCreationTime.UTC().Truncate(time.Hour); !name.Hour.Equal(want) {
			return fmt.Errorf("segment %s: partition hour %s, first record at %s", rel, name.Hour, first.ApproximateCreationTime)
		}
		files++
		for i, c := range changes {
			if c.TableName != table {
				return fmt.Errorf("segment %s row %d: table %q", rel, i, c.TableName)
			}
			if i > 0 && shards.SequenceNumber(changes[i-1].SequenceNumber).Key() >= shards.SequenceNumber(c.SequenceNumber).Key() {
				return fmt.Errorf("segment %s: rows out of sequence order at %d", rel, i)
			}
			r := streamRecord{shard: c.ShardID, seq: c.SequenceNumber, eventID: c.EventID, eventName: c.EventName, keys: c.Keys}
			if c.NewImage != nil {
				r.newImage = *c.NewImage
			}
			if c.OldImage != nil {
				r.oldImage = *c.OldImage
			}
			recs = append(recs, r)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("read segments: %v", err)
	}
	return recs, files
}

// compareRecords checks that the segments hold exactly the stream's records: every one
// present with identical content, nothing extra; repeats (after a crash) only as whole
// identical records, and only when allowDuplicates.
func compareRecords(t *testing.T, stream, stored []streamRecord, allowDuplicates bool) {
	t.Helper()
	want := map[string]streamRecord{}
	for _, r := range stream {
		want[r.id()] = r
	}
	got := map[string]streamRecord{}
	dups := 0
	for _, r := range stored {
		if prev, ok := got[r.id()]; ok {
			dups++
			if prev != r {
				t.Fatalf("record %s stored twice with different content:\n%+v\n%+v", r.id(), prev, r)
			}
			continue
		}
		got[r.id()] = r
	}
	if dups > 0 && !allowDuplicates {
		t.Errorf("%d records stored twice", dups)
	}
	var missing, extra []string
	for id, w := range want {
		g, ok := got[id]
		switch {
		case !ok:
			missing = append(missing, id)
		case g != w:
			t.Errorf("record %s differs:\nstream: %+v\nstored: %+v", id, w, g)
		}
	}
	for id := range got {
		if _, ok := want[id]; !ok {
			extra = append(extra, id)
		}
	}
	sort.Strings(missing)
	sort.Strings(extra)
	if len(missing) > 0 || len(extra) > 0 {
		t.Fatalf("stream has %d records, segments %d distinct: %d missing (first %v), %d extra (first %v)",
			len(want), len(got), len(missing), firstFew(missing), len(extra), firstFew(extra))
	}
}

func firstFew(s []string) []string {
	if len(s) > 3 {
		return s[:3]
	}
	return s
}

func TestCapture_SegmentsHoldExactlyTheStreamAndResume(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	local := ddblocal.Shared(t)
	db := local.DynamoDB()
	table := ddblocal.CreateTable(t, db, ddblocal.TableOptions{})
	dest := t.TempDir()
	w := workload.New(db, table, 1, 300)
	if err := w.Run(ctx, 2000); err != nil {
		t.Fatal(err)
	}
	args := []string{"capture", "--table", table, "--dest", dest, "--until-idle", "2s", "--roll-records", "500"}

	r := ddbtape(ctx, t, nil, args...)
	if r.code != 0 {
		t.Fatalf("capture exit %d: %s", r.code, r.stderr)
	}
	streamARN := ddblocal.StreamARN(t, db, table)
	stream := drainStream(ctx, t, local.Streams(), streamARN)
	if len(stream) != 2000 {
		t.Fatalf("stream holds %d records, want 2000 writes", len(stream))
	}
	stored, files := segmentRecords(t, dest, table)
	compareRecords(t, stream, stored, false)
	if files < 4 {
		t.Errorf("%d segments for 2000 records with --roll-records 500, want >= 4", files)
	}
	// Records are in the order of the stream within each shard.
	for i := 1; i < len(stored); i++ {
		if stored[i].shard == stored[i-1].shard && shards.SequenceNumber(stored[i].seq).Key() < shards.SequenceNumber(stored[i-1].seq).Key() {
			t.Fatalf("shard %s records not in sequence order", stored[i].shard)
		}
	}

	// A second run resumes from the checkpoint: only the new records are added.
	if err := w.Run(ctx, 500); err != nil {
		t.Fatal(err)
	}
	r = ddbtape(ctx, t, nil, args...)
	if r.code != 0 {
		t.Fatalf("second capture exit %d: %s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, "captured 500 records") {
		t.Errorf("second run should capture exactly the 500 new records; it said:\n%s", r.stderr)
	}
	stream = drainStream(ctx, t, local.Streams(), streamARN)
	stored, _ = segmentRecords(t, dest, table)
	compareRecords(t, stream, stored, false)
}

func TestCapture_KilledAtRandomMomentsLosesNothing(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	local := ddblocal.Shared(t)
	db := local.DynamoDB()
	table := ddblocal.CreateTable(t, db, ddblocal.TableOptions{})
	dest := t.TempDir()
	w := workload.New(db, table, 2, 200)

	// Writes stop between two steps (never by cancelling one in flight, which DynamoDB
	// may have applied without the model knowing).
	writesDone := make(chan error, 1)
	var stopWriting atomic.Bool
	stopWrites := func() { stopWriting.Store(true) }
	go func() {
		for !stopWriting.Load() {
			if err := w.Step(ctx); err != nil {
				writesDone <- err
				return
			}
		}
		writesDone <- nil
	}()

	rng := rand.New(rand.NewPCG(7, 7))
	args := []string{"capture", "--table", table, "--dest", dest, "--roll-records", "40", "--roll-age", "300ms", "--poll-interval", "100ms"}
	const rounds = 6
	for i := 0; i < rounds; i++ {
		cmd := ddbtapeCommand(ctx, t, nil, args...)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(300+rng.IntN(2500)) * time.Millisecond)
		_ = cmd.Process.Signal(syscall.SIGKILL)
		err := cmd.Wait()
		if ee, ok := err.(interface{ ExitCode() int }); !ok || ee.ExitCode() != -1 {
			t.Fatalf("round %d: capture ended before it was killed (%v): %s", i, err, stderr.String())
		}
	}
	stopWrites()
	if err := <-writesDone; err != nil {
		t.Fatal(err)
	}
	r := ddbtape(ctx, t, nil, append(args, "--until-idle", "2s")...)
	if r.code != 0 {
		t.Fatalf("final capture exit %d: %s", r.code, r.stderr)
	}
	stream := drainStream(ctx, t, local.Streams(), ddblocal.StreamARN(t, db, table))
	if len(stream) != w.Ops() {
		t.Fatalf("stream holds %d records, the workload wrote %d", len(stream), w.Ops())
	}
	stored, _ := segmentRecords(t, dest, table)
	compareRecords(t, stream, stored, true)
	t.Logf("%d writes, %d stored rows after %d kills", w.Ops(), len(stored), rounds)
}
