package dir_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkBucket_Create1MiB is the cost of storing one change segment durably (temp file,
// fsync, link, fsync of the directory); fsync dominates.
func BenchmarkBucket_Create1MiB(b *testing.B) {
	bucket, body := newBucket(b), bytes.Repeat([]byte("x"), 1<<20)
	b.SetBytes(int64(len(body)))
	for i := 0; b.Loop(); i++ {
		key := fmt.Sprintf("t/changes/dt=2026-11-21/hour=01/shardId-1_%040d_%040d.parquet", i, i)
		if err := bucket.Create(b.Context(), key, bytes.NewReader(body)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBucket_ListOneHourOfAMonth lists one hour's segments (prefix ending mid-name)
// in a tree of 30 days x 24 hours x 10 segments: only the matching subtree is walked.
func BenchmarkBucket_ListOneHourOfAMonth(b *testing.B) {
	bucket := newBucket(b)
	for d := 1; d <= 30; d++ {
		for h := range 24 {
			for s := range 10 {
				// Written directly: the benchmark is of List, and fsyncing 7,200 files
				// would take a minute.
				dir := filepath.Join(bucket.Root(), fmt.Sprintf("t/changes/dt=2026-11-%02d/hour=%02d", d, h))
				if err := os.MkdirAll(dir, 0o755); err != nil {
					b.Fatal(err)
				}
				name := fmt.Sprintf("shardId-%d_%040d_%040d.parquet", s, s, s)
				if err := os.WriteFile(filepath.Join(dir, name), []byte("x"), 0o644); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
	for b.Loop() {
		objs, err := bucket.List(b.Context(), "t/changes/dt=2026-11-21/hour=1")
		if err != nil || len(objs) != 100 {
			b.Fatalf("List = %d objects, %v; want 100", len(objs), err)
		}
	}
}
