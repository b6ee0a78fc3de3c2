package replay

import (
	"strconv"
	"time"

	"github.com/ddbtape/ddbtape/catalog"
	"github.com/ddbtape/ddbtape/checkpoint"
	"github.com/ddbtape/ddbtape/writer"
)

const (
	testTable  = "orders"
	oldStream  = "arn:aws:dynamodb:us-east-1:123456789012:table/orders/stream/2026-02-01T00:00:00.000"
	testStream = "arn:aws:dynamodb:us-east-1:123456789012:table/orders/stream/2026-03-01T00:00:00.000"
)

// at is 2026-03-01 plus a clock time "15:04:05".
func at(clock string) time.Time {
	t, err := time.Parse("2006-01-02 15:04:05", "2026-03-01 "+clock)
	if err != nil {
		panic(err)
	}
	return t
}

func snap(id, started, finished string) catalog.Snapshot {
	return catalog.Snapshot{ID: id, Manifest: &writer.Manifest{SnapshotID: id, TableName: testTable, StartedAt: at(started), FinishedAt: at(finished)}}
}

func incomplete(id string) catalog.Snapshot { return catalog.Snapshot{ID: id} }

func seg(shard string, first, last int, hour string) catalog.Segment {
	n := writer.SegmentName{Table: testTable, ShardID: shard, FirstSeq: strconv.Itoa(first), LastSeq: strconv.Itoa(last), Hour: at(hour)}
	return catalog.Segment{Key: n.Key(), Size: 1000, Name: n}
}

// shard makes a position of testStream covered from from until until ("" for zero).
func shard(id, parent, from, until string) checkpoint.Position {
	p := checkpoint.Position{StreamARN: testStream, ShardID: id, ParentShardID: parent}
	if from != "" {
		p.CoveredFrom = at(from)
	}
	if until != "" {
		p.CoveredUntil = at(until)
	}
	return p
}

func table(ps ...checkpoint.Position) checkpoint.Table {
	t := checkpoint.Table{Table: testTable, Shards: map[string]checkpoint.Position{}}
	for _, p := range ps {
		t.Shards[p.ShardID] = p
	}
	return t
}

func withGaps(t checkpoint.Table, gs ...checkpoint.Gap) checkpoint.Table {
	t.Gaps = gs
	return t
}

func gap(shardID, from, detected string) checkpoint.Gap {
	g := checkpoint.Gap{StreamARN: testStream, ShardID: shardID, DetectedAt: at(detected), Reason: "trimmed"}
	if from != "" {
		g.From = at(from)
	}
	return g
}

// A split: root r finished at 10:30 into a and b, both read up to 12:00 and 12:10.
func splitTable() checkpoint.Table {
	r := shard("shardId-r", "", "08:00:00", "10:30:00")
	r.Finished = true
	return table(r, shard("shardId-a", "shardId-r", "", "12:00:00"), shard("shardId-b", "shardId-r", "", "12:10:00"))
}
