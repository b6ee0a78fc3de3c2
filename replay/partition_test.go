package replay

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"maps"
	"testing"

	"github.com/ddbtape/ddbtape/catalog"
	"github.com/ddbtape/ddbtape/writer"
)

func TestParsePartition_TakesIOfNAndRefusesTheRest(t *testing.T) {
	for in, want := range map[string]Partition{"": {}, "0/1": {0, 1}, "0/3": {0, 3}, "2/3": {2, 3}} {
		got, err := ParsePartition(in)
		if err != nil || got != want {
			t.Errorf("ParsePartition(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"3/3", "-1/3", "1/0", "1", "a/3", "1/b", "1/3/4", " 1/3"} {
		if _, err := ParsePartition(in); !errors.Is(err, ErrPartition) {
			t.Errorf("ParsePartition(%q) err = %v, want ErrPartition", in, err)
		}
	}
}

// The hash is the command line's contract: it is FNV-1a 64 of the merge key, as the
// standard library computes it.
func TestKeyHash_IsFNV1aOfTheMergeKey(t *testing.T) {
	for _, k := range []string{key("a"), `{"pk":{"N":"1"},"sk":{"S":"x"}}`, ""} {
		h := fnv.New64a()
		h.Write([]byte(k))
		if got, want := KeyHash(k), h.Sum64(); got != want {
			t.Errorf("KeyHash(%s) = %d, want %d", k, got, want)
		}
	}
}

// Three partitions together give exactly the whole restore: every key once, with the same
// item, the changes and deletes of the segments included, and the live side's keys kept
// in their own partition.
func TestApply_PartitionsTogetherEqualTheWholeRestore(t *testing.T) {
	s := scenario{started: "10:00:00", finished: "10:05:00"}
	var changes []writer.Change
	for i := range 300 {
		s.snapshot = append(s.snapshot, snapItem(fmt.Sprint("k", i), "v0"))
		switch i % 3 {
		case 0:
			changes = append(changes, ch("shardId-a", 10+i, "10:30:00", "MODIFY", fmt.Sprint("k", i), "v1"))
		case 1:
			changes = append(changes, ch("shardId-a", 10+i, "10:30:00", "REMOVE", fmt.Sprint("k", i), ""))
		}
	}
	s.segments = [][]writer.Change{changes}
	l, r := s.listing()
	p, err := catalog.NewPlan(l, at("11:00:00"))
	if err != nil {
		t.Fatal(err)
	}
	live := func(ctx context.Context, fn func(keys, item string) error) error {
		for i := range 30 {
			if err := fn(key(fmt.Sprint("x", i)), item(fmt.Sprint("x", i), "live")); err != nil {
				return err
			}
		}
		return nil
	}
	restore := func(part Partition) map[string]Entry {
		got := map[string]Entry{}
		_, err := Apply(context.Background(), p, r, Options{TempDir: t.TempDir(), Partition: part, Live: live}, func(e Entry) error {
			if !part.Holds(e.Key) {
				t.Errorf("partition %s was given key %s of partition %d", part, e.Key, KeyHash(e.Key)%uint64(part.Count))
			}
			got[e.Key] = e
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	whole := restore(Partition{})
	union := map[string]Entry{}
	for i := range 3 {
		part := restore(Partition{Index: i, Count: 3})
		if len(part) == 0 || len(part) == len(whole) {
			t.Errorf("partition %d/3 holds %d of %d keys: not a share", i, len(part), len(whole))
		}
		for k, e := range part {
			if _, dup := union[k]; dup {
				t.Errorf("key %s in two partitions", k)
			}
			union[k] = e
		}
	}
	if !maps.Equal(union, whole) {
		t.Errorf("the partitions give %d keys, the whole restore %d, or their items differ", len(union), len(whole))
	}
	if len(whole) != 200+30 {
		t.Errorf("whole restore has %d keys, want 230", len(whole))
	}
}

// A spill of one partition of N spreads its keys over every file, not only those whose
// number shares a factor with N.
func TestSpill_SpreadsOnePartitionsKeysOverEveryFile(t *testing.T) {
	sp, err := newSpill(t.TempDir(), 6, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer sp.remove()
	sp.stride = 3
	part := Partition{Index: 1, Count: 3}
	for i := range 3000 {
		k := key(fmt.Sprint("k", i))
		if !part.Holds(k) {
			continue
		}
		if err := sp.add(&record{kind: kindWant, key: k, v: version{item: "x"}}); err != nil {
			t.Fatal(err)
		}
	}
	for i, n := range sp.sizes {
		if n == 0 {
			t.Errorf("spill file %d of 6 is empty: the partition's keys crowd into the others (%v)", i, sp.sizes)
		}
	}
}
