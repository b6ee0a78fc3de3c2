package writer

import (
	"reflect"
	"testing"
	"time"

	"github.com/ddbtape/ddbtape/shards"
)

func TestSegmentName_KeyParsesBack(t *testing.T) {
	hour := time.Date(2024, 12, 31, 23, 0, 0, 0, time.UTC)
	tests := []SegmentName{
		{Table: "orders", ShardID: "shardId-00000001715000000000-1a2b3c4d", FirstSeq: shards.SequenceNumber("100").Key(), LastSeq: shards.SequenceNumber("250").Key(), Hour: hour},
		{Table: "my-table.v2_x", ShardID: "shardId-1", FirstSeq: shards.SequenceNumber("1").Key(), LastSeq: shards.SequenceNumber("1").Key(), Hour: hour.Add(-23 * time.Hour)},
		{Table: "t--", ShardID: "-a-b-", FirstSeq: shards.SequenceNumber("9").Key(), LastSeq: "49668042234256451993264562425402138713510416052279345154", Hour: hour},
	}
	for _, n := range tests {
		got, ok := ParseSegmentKey(n.Key())
		if !ok || !reflect.DeepEqual(got, n) {
			t.Errorf("ParseSegmentKey(%s) = %+v, %v; want %+v", n.Key(), got, ok, n)
		}
	}
}

func TestSegmentName_KeyUsesUTCHourPartition(t *testing.T) {
	n := SegmentName{Table: "t1", ShardID: "s-1", FirstSeq: "1", LastSeq: "2",
		Hour: time.Date(2024, 3, 1, 1, 0, 0, 0, time.FixedZone("CET", 3600))}
	want := "t1/changes/dt=2024-03-01/hour=00/s-1_0000000000000000000000000000000000000001_0000000000000000000000000000000000000002.parquet"
	if got := n.Key(); got != want {
		t.Fatalf("key %s, want %s", got, want)
	}
}

func TestParseSegmentKey_RejectsOtherObjects(t *testing.T) {
	seq := "0000000000000000000000000000000000000001"
	for _, key := range []string{
		"t1/changes/dt=2024-03-01/hour=00/s-1_" + seq + "_" + seq + ".parquet.tmp",
		"t1/changes/dt=2024-03-01/hour=00/.s-1_" + seq + "_" + seq + ".parquet-123",
		"t1/snapshots/s1/part-00000.parquet",
		"t1/changes/dt=2024-03-01/s-1_" + seq + "_" + seq + ".parquet",
		"t1/changes/dt=2024-13-01/hour=00/s-1_" + seq + "_" + seq + ".parquet",
		"t1/changes/dt=2024-03-01/hour=24/s-1_" + seq + "_" + seq + ".parquet",
		"t1/changes/day=2024-03-01/hour=00/s-1_" + seq + "_" + seq + ".parquet",
		"t1/changes/dt=2024-03-01/hour=00/" + seq + "_" + seq + ".parquet",
		"t1/changes/dt=2024-03-01/hour=00/s-1_" + seq + ".parquet",
		"t1/changes/dt=2024-03-01/hour=00/s-1_12a_" + seq + ".parquet",
		"t1/changes/dt=2024-03-01/hour=00/s-1__" + seq + ".parquet",
		"changes/dt=2024-03-01/hour=00/s-1_" + seq + "_" + seq + ".parquet",
	} {
		if n, ok := ParseSegmentKey(key); ok {
			t.Errorf("ParseSegmentKey(%s) accepted as %+v", key, n)
		}
	}
}
