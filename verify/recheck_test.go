package verify

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/ddbtape/ddbtape/writer"
)

var m0 = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

func item(pk string, v int) string { return fmt.Sprintf(`{"pk":{"S":%q},"v":{"N":"%d"}}`, pk, v) }
func key(pk string) string         { return fmt.Sprintf(`{"pk":{"S":%q}}`, pk) }

func change(event, pk string, stamp time.Time, image string) *writer.Change {
	c := &writer.Change{ShardID: "shard-1", SequenceNumber: "1", EventName: event, ApproximateCreationTime: stamp, Keys: key(pk)}
	if image != "" {
		c.NewImage = &image
	}
	return c
}

// TestDifferences_LaterChangesExplainOnlyWhatTheScanCouldHaveRead proves the rule of the
// package doc in both directions: a difference is expected only when a change stamped after
// M leaves the item exactly as the Scan read it; every other difference is a mismatch.
func TestDifferences_LaterChangesExplainOnlyWhatTheScanCouldHaveRead(t *testing.T) {
	after := m0.Add(time.Second)
	cases := []struct {
		name     string
		kind     string
		live     string // "" when the table lacks the item
		changes  []*writer.Change
		expected bool
	}{
		{"modified after M, the Scan read the new image", Different, item("a", 2), []*writer.Change{change("MODIFY", "a", after, item("a", 2))}, true},
		{"modified after M twice, the Scan read the first", Different, item("a", 2),
			[]*writer.Change{change("MODIFY", "a", after, item("a", 2)), change("MODIFY", "a", after.Add(time.Second), item("a", 3))}, true},
		{"modified after M, but the table holds something else", Different, item("a", 9), []*writer.Change{change("MODIFY", "a", after, item("a", 2))}, false},
		{"differs with no later change: written behind the backup's back", Different, item("a", 2), nil, false},
		{"a change stamped at M is already in the state at M", Different, item("a", 2), []*writer.Change{change("MODIFY", "a", m0, item("a", 2))}, false},
		{"removed after M, the table lacks it", Missing, "", []*writer.Change{change("REMOVE", "a", after, "")}, true},
		{"the table lacks it, but the later change wrote it", Missing, "", []*writer.Change{change("MODIFY", "a", after, item("a", 2))}, false},
		{"inserted after M", Extra, item("n", 1), []*writer.Change{change("INSERT", "n", after, item("n", 1))}, true},
		{"in the table, never in the backup: a lost insert", Extra, item("n", 1), nil, false},
		{"a change to another key explains nothing", Different, item("a", 2), []*writer.Change{change("MODIFY", "b", after, item("a", 2))}, false},
		{"a change without a new image explains nothing", Different, item("a", 2), []*writer.Change{change("MODIFY", "a", after, "")}, false},
		{"images compare in canonical form", Different, `{"v":{"N":"2.0"},"pk":{"S":"a"},"s":{"SS":["y","x"]}}`,
			[]*writer.Change{change("MODIFY", "a", after, `{"pk":{"S":"a"},"s":{"SS":["x","y"]},"v":{"N":"2"}}`)}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := NewDifferences(m0, 10)
			pk := "a"
			if c.kind == Extra {
				pk = "n"
			}
			if err := d.Add(key(pk), c.kind, c.live, c.live != ""); err != nil {
				t.Fatal(err)
			}
			for _, ch := range c.changes {
				if err := d.Explain(ch); err != nil {
					t.Fatal(err)
				}
			}
			expected, mismatches := d.Result()
			if c.expected && (expected != 1 || len(mismatches) != 0) {
				t.Errorf("expected %d, mismatches %v: want the difference explained", expected, mismatches)
			}
			if !c.expected && (expected != 0 || len(mismatches) != 1 || mismatches[0] != (Mismatch{Key: key(pk), Kind: c.kind})) {
				t.Errorf("expected %d, mismatches %v: want one %s mismatch", expected, mismatches, c.kind)
			}
		})
	}
}

func TestDifferences_NumberKeysMeetTheirChanges(t *testing.T) {
	d := NewDifferences(m0, 10)
	// Entry keys are merge keys (numbers normalised); a change may spell the number otherwise.
	if err := d.Add(`{"id":{"N":"1"}}`, Different, `{"id":{"N":"1"},"v":{"N":"2"}}`, true); err != nil {
		t.Fatal(err)
	}
	img := `{"id":{"N":"1.0"},"v":{"N":"2"}}`
	c := &writer.Change{EventName: "MODIFY", ApproximateCreationTime: m0.Add(time.Second), Keys: `{"id":{"N":"1.0"}}`, NewImage: &img}
	if err := d.Explain(c); err != nil {
		t.Fatal(err)
	}
	if expected, mm := d.Result(); expected != 1 || len(mm) != 0 {
		t.Errorf("expected %d, mismatches %v: want the number key matched", expected, mm)
	}
}

func TestDifferences_RefusesMoreThanItsLimit(t *testing.T) {
	d := NewDifferences(m0, 2)
	for i := range 2 {
		if err := d.Add(key(fmt.Sprint(i)), Different, item("x", i), true); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.Add(key("2"), Different, item("x", 2), true); !errors.Is(err, ErrTooManyDifferences) {
		t.Errorf("third difference: %v, want ErrTooManyDifferences", err)
	}
}

func TestSampleSegments_RunsOnAndCoversTheTable(t *testing.T) {
	segs, s, next := SampleSegments(0.1, 0)
	if len(segs) != 100 || segs[0] != 0 || segs[99] != 99 || next != 100 || s != (Segments{Total: SampleTotal, First: 0, Count: 100}) {
		t.Errorf("first tenth: %d segments from %d, next %d, %+v", len(segs), segs[0], next, s)
	}
	seen := map[int]bool{}
	start := 0
	for range 10 {
		var segs []int
		segs, _, start = SampleSegments(0.1, start)
		for _, g := range segs {
			seen[g] = true
		}
	}
	if len(seen) != SampleTotal || start != 0 {
		t.Errorf("ten runs of a tenth read %d distinct segments and end at %d, want all %d and back at 0", len(seen), start, SampleTotal)
	}
	segs, _, next = SampleSegments(0.0001, 999)
	if len(segs) != 1 || segs[0] != 999 || next != 0 {
		t.Errorf("a tiny sample at the end: %v, next %d; want [999], 0", segs, next)
	}
	if segs, _, _ = SampleSegments(0.25, 900); segs[len(segs)-1] != 149 {
		t.Errorf("a sample wraps around: ends at %d, want 149", segs[len(segs)-1])
	}
}
