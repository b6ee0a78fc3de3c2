package replay_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ddbtape/ddbtape/catalog"
	"github.com/ddbtape/ddbtape/checkpoint"
	"github.com/ddbtape/ddbtape/internal/backuptest"
	"github.com/ddbtape/ddbtape/replay"
	"github.com/ddbtape/ddbtape/storage/dir"
	"github.com/ddbtape/ddbtape/writer"
)

const (
	table  = "orders"
	stream = "arn:aws:dynamodb:us-east-1:123456789012:table/orders/stream/2026-03-01T00:00:00.000"
)

var t0 = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

func item(pk string, v int) string { return fmt.Sprintf(`{"pk":{"S":%q},"v":{"N":"%d"}}`, pk, v) }

func change(seq int, stamp time.Time, event, pk string, v int) writer.Change {
	c := writer.Change{TableName: table, StreamARN: stream, ShardID: "shardId-1", SequenceNumber: fmt.Sprint(seq),
		EventID: fmt.Sprint("e", seq), EventName: event, ApproximateCreationTime: stamp, CapturedAt: stamp,
		Keys: fmt.Sprintf(`{"pk":{"S":%q}}`, pk), SizeBytes: 50}
	if event != "REMOVE" {
		img := item(pk, v)
		c.NewImage = &img
	}
	return c
}

// fixture stores a backup of 100 items (k0..k99 = 0) snapshotted 10:00-10:01, then a
// segment that sets k1 = 1, removes k2 and inserts k100 at 10:05, covered until 11:00.
type fixture struct {
	root string
	b    *backuptest.Builder
	seg  writer.SegmentName
}

func newFixture(t *testing.T) fixture { return newFixtureRecorded(t, false) }

// newFixtureRecorded is newFixture with the segment's size and SHA-256 in the ledger when
// record is set, as capture writes it.
func newFixtureRecorded(t *testing.T, record bool) fixture {
	t.Helper()
	ctx := context.Background()
	root := t.TempDir()
	bucket, err := dir.New(root)
	if err != nil {
		t.Fatal(err)
	}
	b := &backuptest.Builder{Bucket: bucket, Table: table, SpoolDir: t.TempDir(), Record: record}
	_, err = b.Snapshot(ctx, "s1", t0, t0.Add(time.Minute), 100, 30, func(i int) writer.SnapshotItem {
		pk := fmt.Sprint("k", i)
		return writer.SnapshotItem{Keys: fmt.Sprintf(`{"pk":{"S":%q}}`, pk), Item: item(pk, 0)}
	})
	if err != nil {
		t.Fatal(err)
	}
	seg, err := b.Segment(ctx, []writer.Change{
		change(10, t0.Add(5*time.Minute), "MODIFY", "k1", 1),
		change(11, t0.Add(5*time.Minute), "REMOVE", "k2", 0),
		change(12, t0.Add(5*time.Minute), "INSERT", "k100", 100),
	})
	if err != nil {
		t.Fatal(err)
	}
	err = b.Checkpoint(ctx, []checkpoint.Position{{StreamARN: stream, ShardID: "shardId-1", CoveredFrom: t0.Add(-time.Hour), CoveredUntil: t0.Add(time.Hour), SequenceNumber: "12"}})
	if err != nil {
		t.Fatal(err)
	}
	return fixture{root: root, b: b, seg: seg}
}

func (f fixture) restore(t *testing.T, at time.Time) (map[string]string, error) {
	t.Helper()
	ctx := context.Background()
	l, err := catalog.List(ctx, f.b.Bucket, f.b.Checkpoints(), table)
	if err != nil {
		return nil, err
	}
	p, err := catalog.NewPlan(l, at)
	if err != nil {
		return nil, err
	}
	got := map[string]string{}
	r := replay.NewBucketReader(f.b.Bucket, table, t.TempDir())
	_, err = replay.Apply(ctx, p, r, replay.Options{TempDir: t.TempDir()}, func(e replay.Entry) error {
		got[e.Key] = e.Want
		return nil
	})
	return got, err
}

func TestRestore_RebuildsFromStoredSnapshotAndSegments(t *testing.T) {
	for _, recorded := range []bool{false, true} {
		t.Run(fmt.Sprint("recorded=", recorded), func(t *testing.T) { testRebuild(t, recorded) })
	}
}

func testRebuild(t *testing.T, recorded bool) {
	f := newFixtureRecorded(t, recorded)
	l, err := catalog.List(context.Background(), f.b.Bucket, nil, table)
	if err != nil {
		t.Fatal(err)
	}
	if got := l.Segments[0].Recorded.SHA256 != ""; got != recorded {
		t.Fatalf("the listing's segment has a recorded SHA-256: %v, want %v", got, recorded)
	}
	got, err := f.restore(t, t0.Add(10*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	for i := range 100 {
		want[fmt.Sprintf(`{"pk":{"S":"k%d"}}`, i)] = item(fmt.Sprint("k", i), 0)
	}
	want[`{"pk":{"S":"k1"}}`] = item("k1", 1)
	delete(want, `{"pk":{"S":"k2"}}`)
	want[`{"pk":{"S":"k100"}}`] = item("k100", 100)
	if !maps.Equal(got, want) {
		t.Errorf("restored %d items, want %d; differences in k1/k2/k100: %q %q %q", len(got), len(want),
			got[`{"pk":{"S":"k1"}}`], got[`{"pk":{"S":"k2"}}`], got[`{"pk":{"S":"k100"}}`])
	}
}

func TestRestore_FailsNamingTheDamagedFile(t *testing.T) {
	flip := func(t *testing.T, f fixture) string {
		p := filepath.Join(f.root, filepath.FromSlash(f.seg.Key()))
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		data[len(data)/2] ^= 0x01
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name     string
		recorded bool                                 // the segment's SHA-256 is in the ledger
		damage   func(t *testing.T, f fixture) string // returns the path the error must name
		is       error
		msg      string
	}{
		{"recorded segment with a flipped bit", true, flip, writer.ErrChecksum, "the ledger recorded"},
		{"recorded segment truncated", true, func(t *testing.T, f fixture) string {
			p := filepath.Join(f.root, filepath.FromSlash(f.seg.Key()))
			data, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, data[:len(data)-1], 0o644); err != nil {
				t.Fatal(err)
			}
			return p
		}, writer.ErrChecksum, "bytes, the ledger recorded"},
		{"part altered", false, func(t *testing.T, f fixture) string {
			p := filepath.Join(f.root, table, "snapshots", "s1", "part-00001.parquet")
			data, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			data[len(data)/2] ^= 0xff
			if err := os.WriteFile(p, data, 0o644); err != nil {
				t.Fatal(err)
			}
			return p
		}, writer.ErrChecksum, "SHA-256"},
		{"part missing", false, func(t *testing.T, f fixture) string {
			p := filepath.Join(f.root, table, "snapshots", "s1", "part-00002.parquet")
			if err := os.Remove(p); err != nil {
				t.Fatal(err)
			}
			return p
		}, nil, "is missing"},
		{"segment truncated", false, func(t *testing.T, f fixture) string {
			p := filepath.Join(f.root, filepath.FromSlash(f.seg.Key()))
			data, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, data[:len(data)*2/3], 0o644); err != nil {
				t.Fatal(err)
			}
			return p
		}, writer.ErrCorrupt, ""},
		{"segment of an unknown schema", false, func(t *testing.T, f fixture) string {
			p := filepath.Join(f.root, filepath.FromSlash(f.seg.Key()))
			data, err := os.ReadFile(filepath.Join(f.root, table, "snapshots", "s1", "part-00000.parquet"))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, data, 0o644); err != nil {
				t.Fatal(err)
			}
			return p
		}, writer.ErrUnknownSchema, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixtureRecorded(t, tc.recorded)
			path := tc.damage(t, f)
			_, err := f.restore(t, t0.Add(10*time.Minute))
			if err == nil {
				t.Fatal("restore succeeded over a damaged backup")
			}
			if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %q does not name %s and %q", err, path, tc.msg)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error %v does not wrap %v", err, tc.is)
			}
		})
	}
}

func TestList_RefusesACorruptManifestAndSkipsIncompleteSnapshots(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	// A second snapshot still running: parts but no manifest.
	if err := f.b.Bucket.Put(ctx, writer.SnapshotDir(table, "s2")+"part-00000.parquet", bytes.NewReader([]byte("x"))); err != nil {
		t.Fatal(err)
	}
	l, err := catalog.List(ctx, f.b.Bucket, f.b.Checkpoints(), table)
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Snapshots) != 2 || l.Snapshots[0].Manifest == nil || l.Snapshots[1].Manifest != nil {
		t.Fatalf("snapshots %+v", l.Snapshots)
	}
	if len(l.Segments) != 1 || l.Segments[0].Name.ShardID != "shardId-1" {
		t.Fatalf("segments %+v", l.Segments)
	}
	if err := f.b.Bucket.Put(ctx, writer.ManifestKey(table, "s2"), bytes.NewReader([]byte("{"))); err != nil {
		t.Fatal(err)
	}
	_, err = catalog.List(ctx, f.b.Bucket, f.b.Checkpoints(), table)
	if !errors.Is(err, writer.ErrInvalidManifest) || !strings.Contains(err.Error(), filepath.Join(f.root, table, "snapshots", "s2", "manifest.json")) {
		t.Errorf("err = %v", err)
	}
}
