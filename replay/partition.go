package replay

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Partition is one share of a table's keys, so that Count processes, each with its own
// Index, together rebuild the whole table and none of them holds another's key: a key
// belongs to partition KeyHash(key) mod Count, where key is the merge key (MergeKey: the
// key attributes as DynamoDB JSON, names sorted, numbers normalised, as in
// {"pk":{"S":"a"},"sk":{"N":"1"}}) and KeyHash is 64-bit FNV-1a over its bytes, the hash
// the spill uses at its first level. Every process still reads the whole backup (it must:
// any file may hold a change to any key), so partitions split the merge, the spill's disk
// and the writes, not the reading. The zero Partition, like 0/1, holds every key.
type Partition struct {
	Index int
	Count int
}

// ErrPartition means a partition was not given as I/N with 0 <= I < N.
var ErrPartition = errors.New("a partition is I/N with 0 <= I < N, as in 0/3, 1/3 and 2/3")

// ParsePartition reads "I/N". An empty string is the whole table.
func ParsePartition(s string) (Partition, error) {
	if s == "" {
		return Partition{}, nil
	}
	i, n, ok := strings.Cut(s, "/")
	if !ok {
		return Partition{}, fmt.Errorf("%q: %w", s, ErrPartition)
	}
	index, err1 := strconv.Atoi(i)
	count, err2 := strconv.Atoi(n)
	p := Partition{Index: index, Count: count}
	if err1 != nil || err2 != nil || p.Count < 1 || p.Index < 0 || p.Index >= p.Count {
		return Partition{}, fmt.Errorf("%q: %w", s, ErrPartition)
	}
	return p, nil
}

// Whole reports whether p holds every key.
func (p Partition) Whole() bool { return p.Count <= 1 }

// Holds reports whether the key with merge key key belongs to p.
func (p Partition) Holds(key string) bool {
	return p.Whole() || KeyHash(key)%uint64(p.Count) == uint64(p.Index)
}

// String is "I/N", or "whole" for every key.
func (p Partition) String() string {
	if p.Whole() {
		return "whole"
	}
	return fmt.Sprintf("%d/%d", p.Index, p.Count)
}

// KeyHash is the 64-bit FNV-1a hash of a merge key: what Partition and the spill's first
// level partition keys by. It is part of the command line's contract (restore --partition)
// and must not change.
func KeyHash(key string) uint64 { return keyHash(key, 0) }

// keyHash is FNV-1a, its offset basis mixed with level so that a spill file split again
// spreads its keys instead of keeping them together (level 0 is plain FNV-1a).
func keyHash(key string, level int) uint64 {
	h := uint64(14695981039346656037) ^ uint64(level)*0x9e3779b97f4a7c15
	for i := 0; i < len(key); i++ {
		h ^= uint64(key[i])
		h *= 1099511628211
	}
	return h
}
