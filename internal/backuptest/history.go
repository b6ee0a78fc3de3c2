package backuptest

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/ddbtape/ddbtape/catalog"
	"github.com/ddbtape/ddbtape/checkpoint"
	"github.com/ddbtape/ddbtape/replay"
	"github.com/ddbtape/ddbtape/storage"
	"github.com/ddbtape/ddbtape/storage/dir"
	"github.com/ddbtape/ddbtape/writer"
)

// History is a backup of table "orders" written with real files: an initial snapshot at
// t0, then changes on two shards (keys k00-k09 on shard-1 every 5 minutes, k10-k19 on
// shard-2 every 7), rolled into a segment per half hour of stamps, a scan snapshot every
// two hours, and a checkpoint covering everything. The model tells the state at any time.
type History struct {
	Bucket  storage.Bucket
	B       *Builder
	T0, End time.Time
	Initial map[string]string // key -> item
	Changes []writer.Change   // in stamp order
	Snaps   []writer.Manifest
}

// ItemJSON is the item of key with value v; KeyJSON its key.
// ItemJSON is the item of key with value v; KeyJSON its key.
func ItemJSON(key string, v int) string { return fmt.Sprintf(`{"pk":{"S":%q},"v":{"N":"%d"}}`, key, v) }
func KeyJSON(key string) string         { return fmt.Sprintf(`{"pk":{"S":%q}}`, key) }

// NewHistory writes a history of the given length into a new directory.
func NewHistory(t testing.TB, hours int) *History {
	t.Helper()
	ctx := context.Background()
	bucket, err := dir.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	h := &History{
		Bucket: bucket, B: &Builder{Bucket: bucket, Table: HistoryTable, SpoolDir: t.TempDir()},
		T0: At("00:00"), Initial: map[string]string{},
	}
	h.End = h.T0.Add(time.Duration(hours) * time.Hour)
	for i := range 15 {
		k := fmt.Sprintf("k%02d", i)
		h.Initial[k] = ItemJSON(k, 0)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	var lastSeq [2]int
	var lastAt [2]time.Time
	for s, every := range []time.Duration{5 * time.Minute, 7 * time.Minute} {
		shard := fmt.Sprintf("shard-%d", s+1)
		var pending []writer.Change
		flush := func() {
			if len(pending) > 0 {
				if _, err := h.B.Segment(ctx, pending); err != nil {
					t.Fatal(err)
				}
				pending = nil
			}
		}
		seq := 100
		for stamp := h.T0.Add(time.Minute); stamp.Before(h.End); stamp = stamp.Add(every) {
			if len(pending) > 0 && stamp.Truncate(30*time.Minute) != pending[0].ApproximateCreationTime.Truncate(30*time.Minute) {
				flush()
			}
			k := fmt.Sprintf("k%02d", s*10+rng.IntN(10))
			c := writer.Change{TableName: HistoryTable, StreamARN: HistoryStream, ShardID: shard, SequenceNumber: fmt.Sprint(seq),
				EventID: fmt.Sprint("e", seq), ApproximateCreationTime: stamp, CapturedAt: stamp, Keys: KeyJSON(k), SizeBytes: 40}
			if rng.IntN(4) == 0 {
				c.EventName = "REMOVE"
			} else {
				c.EventName = "MODIFY"
				img := ItemJSON(k, seq)
				c.NewImage = &img
			}
			pending = append(pending, c)
			h.Changes = append(h.Changes, c)
			lastSeq[s], lastAt[s] = seq, stamp
			seq += 1 + rng.IntN(3)
		}
		flush()
	}
	slices.SortStableFunc(h.Changes, func(a, b writer.Change) int { return a.ApproximateCreationTime.Compare(b.ApproximateCreationTime) })
	for start := h.T0; start.Before(h.End); start = start.Add(2 * time.Hour) {
		h.Scan(t, start, start.Add(3*time.Minute))
	}
	var pos []checkpoint.Position
	for s := range 2 {
		pos = append(pos, checkpoint.Position{StreamARN: HistoryStream, ShardID: fmt.Sprintf("shard-%d", s+1),
			CoveredFrom: h.T0.Add(-time.Hour), CoveredUntil: h.End, SequenceNumber: fmt.Sprint(lastSeq[s]), LastRecordTime: lastAt[s]})
	}
	if err := h.B.Checkpoint(ctx, pos); err != nil {
		t.Fatal(err)
	}
	return h
}

// Scan writes a snapshot holding the state at its start, as a scan that saw no change
// while it ran would.
func (h *History) Scan(t testing.TB, started, finished time.Time) writer.Manifest {
	t.Helper()
	state := h.State(started)
	ks := slices.Sorted(maps.Keys(state))
	id := fmt.Sprintf("%s-%04x", started.UTC().Format("20060102T150405Z"), len(h.Snaps))
	m, err := h.B.Snapshot(context.Background(), id, started, finished, len(ks), 4, func(i int) writer.SnapshotItem {
		return writer.SnapshotItem{Keys: KeyJSON(ks[i][:3]), Item: state[ks[i]]}
	})
	if err != nil {
		t.Fatal(err)
	}
	h.Snaps = append(h.Snaps, m)
	return m
}

// State is the table at tm: the initial items and every change stamped at or before it.
func (h *History) State(tm time.Time) map[string]string {
	out := maps.Clone(h.Initial)
	for _, c := range h.Changes {
		if c.ApproximateCreationTime.After(tm) {
			break
		}
		k := c.Keys[len(`{"pk":{"S":"`) : len(`{"pk":{"S":"`)+3]
		if c.NewImage == nil {
			delete(out, k)
		} else {
			out[k] = *c.NewImage
		}
	}
	return out
}

// RestoreAt restores the backup at tm the way ddbtape restore does: key -> item.
func RestoreAt(ctx context.Context, b storage.Bucket, cp catalog.CheckpointLoader, table string, tm time.Time, tmp string) (map[string]string, catalog.Plan, error) {
	l, err := catalog.List(ctx, b, cp, table)
	if err != nil {
		return nil, catalog.Plan{}, err
	}
	p, err := catalog.NewPlan(l, tm)
	if err != nil {
		return nil, p, err
	}
	out := map[string]string{}
	_, err = replay.Apply(ctx, p, replay.NewBucketReader(b, table, tmp), replay.Options{TempDir: tmp, Parallelism: 2}, func(e replay.Entry) error {
		if e.HasWant {
			out[e.Key[len(`{"pk":{"S":"`):len(`{"pk":{"S":"`)+3]] = e.Want
		}
		return nil
	})
	return out, p, err
}

// The table and stream of a History.
const (
	HistoryTable  = "orders"
	HistoryStream = "arn:aws:dynamodb:us-east-1:123456789012:table/orders/stream/2026-03-01T00:00:00.000"
)

// At is 2026-03-01 plus a clock time "15:04".
func At(clock string) time.Time {
	t, err := time.Parse("2006-01-02 15:04", "2026-03-01 "+clock)
	if err != nil {
		panic(err)
	}
	return t
}

// LastSeq is the sequence number of shard's last change.
func (h *History) LastSeq(shard string) (string, time.Time) {
	var seq string
	var stamp time.Time
	for _, c := range h.Changes {
		if c.ShardID == shard {
			seq, stamp = c.SequenceNumber, c.ApproximateCreationTime
		}
	}
	return seq, stamp
}
