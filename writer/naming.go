package writer

import (
	"fmt"
	"path"
	"strings"
	"time"

	"github.com/ddbtape/ddbtape/shards"
)

// ChangesPrefix is the key prefix under which a table's change segments live.
func ChangesPrefix(table string) string { return table + "/changes/" }

// SnapshotsPrefix is the key prefix under which a table's snapshots live.
func SnapshotsPrefix(table string) string { return table + "/snapshots/" }

// CheckpointsPrefix is where the file checkpoint store lives when kept beside the data.
func CheckpointsPrefix(table string) string { return table + "/checkpoints/" }

// SegmentName is the identity of a change segment as its key tells it.
type SegmentName struct {
	Table    string
	ShardID  string
	FirstSeq string // zero-padded
	LastSeq  string // zero-padded
	// Hour is the UTC hour of the first record's ApproximateCreationDateTime (dt/hour partition).
	Hour time.Time
}

// Key is the object key of the segment:
// <table>/changes/dt=YYYY-MM-DD/hour=HH/<shard-id>_<first-seq>_<last-seq>.parquet
func (n SegmentName) Key() string {
	h := n.Hour.UTC()
	return fmt.Sprintf("%sdt=%s/hour=%02d/%s_%s_%s.parquet",
		ChangesPrefix(n.Table), h.Format("2006-01-02"), h.Hour(), n.ShardID, shards.SequenceNumber(n.FirstSeq).Key(), shards.SequenceNumber(n.LastSeq).Key())
}

// ParseSegmentKey reads a segment's identity from its object key; ok is false for keys
// that are not change segments (temporary files, other objects).
func ParseSegmentKey(key string) (SegmentName, bool) {
	dir, file := path.Split(key)
	if !strings.HasSuffix(file, ".parquet") {
		return SegmentName{}, false
	}
	parts := strings.Split(strings.TrimSuffix(dir, "/"), "/")
	if len(parts) < 4 || parts[len(parts)-3] != "changes" {
		return SegmentName{}, false
	}
	table := strings.Join(parts[:len(parts)-3], "/")
	dt, okDt := strings.CutPrefix(parts[len(parts)-2], "dt=")
	hr, okHr := strings.CutPrefix(parts[len(parts)-1], "hour=")
	if !okDt || !okHr {
		return SegmentName{}, false
	}
	hour, err := time.Parse("2006-01-02 15", dt+" "+hr)
	if err != nil {
		return SegmentName{}, false
	}
	base := strings.TrimSuffix(file, ".parquet")
	// Shard ids contain '-' but never '_'; sequence keys are digits.
	i := strings.LastIndexByte(base, '_')
	if i < 0 {
		return SegmentName{}, false
	}
	j := strings.LastIndexByte(base[:i], '_')
	if j <= 0 {
		return SegmentName{}, false
	}
	first, last := base[j+1:i], base[i+1:]
	if !shards.SequenceNumber(first).Valid() || !shards.SequenceNumber(last).Valid() {
		return SegmentName{}, false
	}
	return SegmentName{Table: table, ShardID: base[:j], FirstSeq: first, LastSeq: last, Hour: hour}, true
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
