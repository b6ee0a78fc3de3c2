package shards

import (
	"fmt"
	"slices"
	"testing"
)

func ids(ss []Shard) []string {
	out := []string{}
	for _, s := range ss {
		out = append(out, s.ID)
	}
	return out
}

func set(xs ...string) func(string) bool {
	return func(id string) bool { return slices.Contains(xs, id) }
}

// sh builds a shard; seq orders shards in lineage order.
func sh(id, parent, seq string) Shard {
	return Shard{ID: id, ParentID: parent, StartingSequence: seq}
}

func TestBuildLineage_Shapes(t *testing.T) {
	tests := []struct {
		name     string
		shards   []Shard
		roots    []string
		children map[string][]string
		parent   map[string]string // id -> parent id ("" means no listed parent)
		depth    map[string]int
	}{
		{
			name:     "split: one parent, two children",
			shards:   []Shard{sh("c2", "p", "300"), sh("p", "", "100"), sh("c1", "p", "200")},
			roots:    []string{"p"},
			children: map[string][]string{"p": {"c1", "c2"}, "c1": {}, "c2": {}},
			parent:   map[string]string{"c1": "p", "c2": "p", "p": ""},
			depth:    map[string]int{"p": 0, "c1": 1, "c2": 1, "missing": -1},
		},
		{
			name:     "rollover: parent with one child",
			shards:   []Shard{sh("p", "", "1"), sh("c", "p", "2")},
			roots:    []string{"p"},
			children: map[string][]string{"p": {"c"}},
			parent:   map[string]string{"c": "p"},
			depth:    map[string]int{"c": 1},
		},
		{
			name:     "orphan: parent trimmed away is a root",
			shards:   []Shard{sh("c", "gone", "5"), sh("d", "c", "6")},
			roots:    []string{"c"},
			children: map[string][]string{"gone": {}, "c": {"d"}},
			parent:   map[string]string{"c": "", "d": "c"},
			depth:    map[string]int{"c": 0, "d": 1},
		},
		{
			name:     "chain of rollovers",
			shards:   []Shard{sh("d", "c", "4"), sh("b", "a", "2"), sh("a", "", "1"), sh("c", "b", "3")},
			roots:    []string{"a"},
			children: map[string][]string{"a": {"b"}, "b": {"c"}, "c": {"d"}, "d": {}},
			parent:   map[string]string{"d": "c", "a": ""},
			depth:    map[string]int{"a": 0, "b": 1, "c": 2, "d": 3},
		},
		{
			name:   "several roots ordered by starting sequence then id",
			shards: []Shard{sh("z", "", "10"), sh("y", "", "9"), sh("b", "", "10"), sh("a1", "z", "11")},
			// 9 < 10 numerically although "9" > "10" as text.
			roots:    []string{"y", "b", "z"},
			children: map[string][]string{"z": {"a1"}},
			parent:   map[string]string{"a1": "z"},
			depth:    map[string]int{"a1": 1},
		},
		{
			name:     "self-parent is a root",
			shards:   []Shard{sh("s", "s", "1")},
			roots:    []string{"s"},
			children: map[string][]string{"s": {}},
			parent:   map[string]string{"s": ""},
			depth:    map[string]int{"s": 0},
		},
		{
			name:     "two-shard cycle is cut at its first shard",
			shards:   []Shard{sh("b", "a", "2"), sh("a", "b", "1")},
			roots:    []string{"a"},
			children: map[string][]string{"a": {"b"}, "b": {}},
			parent:   map[string]string{"a": "", "b": "a"},
			depth:    map[string]int{"a": 0, "b": 1},
		},
		{
			name:     "cycle hanging below a tail is cut and the tail kept",
			shards:   []Shard{sh("t", "x", "9"), sh("x", "y", "5"), sh("y", "z", "6"), sh("z", "x", "7")},
			roots:    []string{"x"},
			children: map[string][]string{"x": {"z", "t"}, "z": {"y"}, "y": {}},
			parent:   map[string]string{"x": "", "t": "x", "z": "x", "y": "z"},
			depth:    map[string]int{"x": 0, "z": 1, "y": 2, "t": 1},
		},
		{
			name:     "later duplicate replaces earlier entry",
			shards:   []Shard{sh("a", "", "1"), sh("b", "", "2"), sh("b", "a", "2")},
			roots:    []string{"a"},
			children: map[string][]string{"a": {"b"}},
			parent:   map[string]string{"b": "a"},
		},
		{
			name:  "empty listing",
			roots: []string{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := BuildLineage(tt.shards)
			if got := ids(l.Roots()); !slices.Equal(got, tt.roots) {
				t.Errorf("Roots() = %v, want %v", got, tt.roots)
			}
			for id, want := range tt.children {
				if got := ids(l.Children(id)); !slices.Equal(got, want) {
					t.Errorf("Children(%s) = %v, want %v", id, got, want)
				}
			}
			for id, want := range tt.parent {
				p, ok := l.Parent(id)
				if ok != (want != "") || p.ID != want {
					t.Errorf("Parent(%s) = %q, %v; want %q", id, p.ID, ok, want)
				}
			}
			for id, want := range tt.depth {
				if got := l.Depth(id); got != want {
					t.Errorf("Depth(%s) = %d, want %d", id, got, want)
				}
			}
		})
	}
}

func TestLineage_ReadyKeepsParentsBeforeChildren(t *testing.T) {
	split := []Shard{sh("p", "", "1"), sh("c1", "p", "2"), sh("c2", "p", "3"), sh("g", "c1", "4")}
	tests := []struct {
		name     string
		shards   []Shard
		finished []string
		running  []string
		want     []string
	}{
		{name: "only the parent before anything ran", shards: split, want: []string{"p"}},
		{name: "nothing while the parent runs", shards: split, running: []string{"p"}, want: []string{}},
		{name: "finished parent enables both children", shards: split, finished: []string{"p"}, want: []string{"c1", "c2"}},
		{name: "running child is not offered twice", shards: split, finished: []string{"p"}, running: []string{"c1"}, want: []string{"c2"}},
		{name: "grandchild after its own parent only", shards: split, finished: []string{"p", "c1"}, want: []string{"c2", "g"}},
		{name: "all finished", shards: split, finished: []string{"p", "c1", "c2", "g"}, want: []string{}},
		{name: "orphans are ready at once", shards: []Shard{sh("o1", "gone", "2"), sh("o2", "gone", "1")}, want: []string{"o2", "o1"}},
		{name: "several roots in order", shards: []Shard{sh("r2", "", "20"), sh("r1", "", "3"), sh("k", "r1", "30")}, want: []string{"r1", "r2"}},
		{name: "nil functions mean none finished or running", shards: split, want: []string{"p"}},
		{name: "cycle still schedules its cut shard", shards: []Shard{sh("a", "b", "1"), sh("b", "a", "2")}, want: []string{"a"}},
		{name: "cycle member after its parent finished", shards: []Shard{sh("a", "b", "1"), sh("b", "a", "2")}, finished: []string{"a"}, want: []string{"b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := BuildLineage(tt.shards)
			var fin, run func(string) bool
			if tt.finished != nil {
				fin = set(tt.finished...)
			}
			if tt.running != nil {
				run = set(tt.running...)
			}
			if got := ids(l.Ready(fin, run)); !slices.Equal(got, tt.want) {
				t.Errorf("Ready() = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestLineage_ReadyDrainsEveryShardOfALongCycleFreeTree(t *testing.T) {
	// A binary tree of splits, 6 levels deep: scheduling by Ready must visit every shard
	// exactly once, each after its parent.
	var all []Shard
	var add func(id, parent string, level, seq int)
	n := 0
	add = func(id, parent string, level, seq int) {
		n++
		all = append(all, sh(id, parent, fmt.Sprint(seq)))
		if level < 6 {
			add(id+"0", id, level+1, seq*2)
			add(id+"1", id, level+1, seq*2+1)
		}
	}
	add("r", "", 0, 1)
	l := BuildLineage(all)
	finished := map[string]bool{}
	var order []string
	for range n + 1 {
		ready := l.Ready(func(id string) bool { return finished[id] }, nil)
		if len(ready) == 0 {
			break
		}
		for _, s := range ready {
			if p, ok := l.Parent(s.ID); ok && !finished[p.ID] {
				t.Fatalf("%s offered before its parent %s finished", s.ID, p.ID)
			}
			order = append(order, s.ID)
		}
		for _, s := range ready {
			finished[s.ID] = true
		}
	}
	if len(order) != n || len(finished) != n {
		t.Fatalf("scheduled %d shards (%d distinct), want %d", len(order), len(finished), n)
	}
}
