package shards

import (
	"slices"
	"strings"
)

// Lineage is the parent/child tree of a stream's shards, built from one listing. A shard
// is read only after its parent was read to its end, because records of one key move
// from the parent to a child when a shard splits or rolls over (DynamoDB closes shards
// about every four hours). A Lineage is immutable and safe for concurrent use.
//
// Every list it returns is in one deterministic order: by starting sequence number
// (oldest data first, which is also the data the 24-hour retention trims first), then by
// shard id.
type Lineage struct {
	byID     map[string]Shard
	order    []string          // every shard id, in lineage order
	parent   map[string]string // parent id when the parent is listed; cycles broken
	children map[string][]string
}

// BuildLineage builds the tree of shards. When an id appears twice the later entry wins
// (so appending a newer listing updates a shard). A shard whose parent is not in the
// listing (trimmed away after 24 hours, or never listed) is a root. A shard naming itself
// as parent is a root. Parent links that form a cycle, which DynamoDB never produces,
// are cut at the cycle's first shard in lineage order, so every shard stays reachable and
// scheduling never waits forever.
func BuildLineage(shards []Shard) Lineage {
	l := Lineage{
		byID:     make(map[string]Shard, len(shards)),
		parent:   make(map[string]string, len(shards)),
		children: make(map[string][]string),
	}
	for _, s := range shards {
		if s.ID == "" {
			continue
		}
		if _, dup := l.byID[s.ID]; !dup {
			l.order = append(l.order, s.ID)
		}
		l.byID[s.ID] = s
	}
	slices.SortFunc(l.order, func(a, b string) int {
		if c := SequenceNumber(l.byID[a].StartingSequence).Compare(SequenceNumber(l.byID[b].StartingSequence)); c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
	rank := make(map[string]int, len(l.order))
	for i, id := range l.order {
		rank[id] = i
		p := l.byID[id].ParentID
		if _, listed := l.byID[p]; listed && p != id {
			l.parent[id] = p
		}
	}
	l.breakCycles(rank)
	for _, id := range l.order {
		if p, ok := l.parent[id]; ok {
			l.children[p] = append(l.children[p], id)
		}
	}
	return l
}

// breakCycles walks every parent chain once and cuts the parent link of the
// lowest-ranked shard of any cycle found.
func (l *Lineage) breakCycles(rank map[string]int) {
	const (
		unseen = iota
		onPath
		done
	)
	state := make(map[string]int, len(l.order))
	for _, id := range l.order {
		var path []string
		cur := id
		for cur != "" && state[cur] == unseen {
			state[cur] = onPath
			path = append(path, cur)
			cur = l.parent[cur]
		}
		if cur != "" && state[cur] == onPath {
			cycle := path[slices.Index(path, cur):]
			cut := slices.MinFunc(cycle, func(a, b string) int { return rank[a] - rank[b] })
			delete(l.parent, cut)
		}
		for _, p := range path {
			state[p] = done
		}
	}
}

func (l Lineage) list(ids []string) []Shard {
	out := make([]Shard, 0, len(ids))
	for _, id := range ids {
		out = append(out, l.byID[id])
	}
	return out
}

// Len returns the number of shards.
func (l Lineage) Len() int { return len(l.order) }

// Shards returns every shard, in lineage order.
func (l Lineage) Shards() []Shard { return l.list(l.order) }

// Shard returns the shard with id, and false when it is not in the listing.
func (l Lineage) Shard(id string) (Shard, bool) {
	s, ok := l.byID[id]
	return s, ok
}

// Roots returns the shards without a listed parent.
func (l Lineage) Roots() []Shard {
	var ids []string
	for _, id := range l.order {
		if _, ok := l.parent[id]; !ok {
			ids = append(ids, id)
		}
	}
	return l.list(ids)
}

// Children returns the listed children of id (two after a split, one after a rollover);
// none for an unknown id.
func (l Lineage) Children(id string) []Shard { return l.list(l.children[id]) }

// Parent returns the parent of id, and false when id is a root or not listed.
func (l Lineage) Parent(id string) (Shard, bool) {
	p, ok := l.parent[id]
	if !ok {
		return Shard{}, false
	}
	return l.byID[p], true
}

// Depth returns the number of listed ancestors of id: 0 for a root, -1 for an id that is
// not listed.
func (l Lineage) Depth(id string) int {
	if _, ok := l.byID[id]; !ok {
		return -1
	}
	d := 0
	for p, ok := l.parent[id]; ok; p, ok = l.parent[p] {
		d++
	}
	return d
}

// Ready returns the shards that may be read now, in lineage order: not finished, not
// running, and whose parent is not listed or is finished. A nil function means "none".
func (l Lineage) Ready(finished func(id string) bool, running func(id string) bool) []Shard {
	is := func(f func(string) bool, id string) bool { return f != nil && f(id) }
	var ids []string
	for _, id := range l.order {
		if is(finished, id) || is(running, id) {
			continue
		}
		if p, ok := l.parent[id]; ok && !is(finished, p) {
			continue
		}
		ids = append(ids, id)
	}
	return l.list(ids)
}
