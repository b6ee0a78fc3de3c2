package catalog

import (
	"cmp"
	"strings"

	"github.com/ddbtape/ddbtape/ledger"
	"github.com/ddbtape/ddbtape/shards"
	"github.com/ddbtape/ddbtape/writer"
)

// Lineage orders the changes of one key across shards: by stream, then by the shard's
// depth in the lineage tree, then by sequence number. Within a stream a key's changes live
// in one chain of shards (a parent and, after it closes, one of its children), so depth
// orders the shards of that chain and the sequence number orders the records of a shard.
type Lineage struct {
	depth    map[string]int // by shard id, including parents known only as someone's parent
	maxDepth map[string]int // by stream ARN
}

// NewLineage computes depths from the ledger's parent links. A shard whose parent is
// unknown has depth 0; a parent known only from a child's ParentID gets a depth too, so
// the segments of a parent whose record was lost still order before its child.
func NewLineage(st ledger.State) Lineage {
	parent := make(map[string]string, len(st.Shards))
	stream := make(map[string]string, len(st.Shards))
	for k, sh := range st.Shards {
		parent[k.Shard] = sh.ParentID
		stream[k.Shard] = k.Stream
		if sh.ParentID != "" {
			if _, ok := stream[sh.ParentID]; !ok {
				stream[sh.ParentID] = k.Stream
			}
		}
	}
	l := Lineage{depth: make(map[string]int, len(stream)), maxDepth: map[string]int{}}
	for id := range stream {
		d := l.depthOf(id, parent, 0)
		if d > l.maxDepth[stream[id]] {
			l.maxDepth[stream[id]] = d
		}
	}
	return l
}

// depthOf walks up the parents; hops bounds it so a corrupt cycle cannot loop forever.
func (l Lineage) depthOf(id string, parent map[string]string, hops int) int {
	if d, ok := l.depth[id]; ok {
		return d
	}
	p := parent[id]
	d := 0
	if p != "" && hops < len(parent)+1 {
		d = l.depthOf(p, parent, hops+1) + 1
	}
	l.depth[id] = d
	return d
}

// Order is where a change sorts among the changes of its key.
type Order struct {
	Stream string // stream label (the time an ARN ends with); older streams sort first
	Depth  int
	Seq    string // sequence number zero-padded to writer.SequenceKeyWidth
	Shard  string // only to make the order total; a key's duplicates share shard and seq
}

// Order returns the position of c. A shard the ledger does not know sorts after every
// known shard of its stream: it can only be a shard whose first checkpoint a crash
// prevented, and shards are read parent first.
func (l Lineage) Order(c *writer.Change) Order {
	d, ok := l.depth[c.ShardID]
	if !ok {
		d = l.maxDepth[c.StreamARN] + 1
	}
	return Order{Stream: streamLabel(c.StreamARN), Depth: d, Seq: shards.SequenceNumber(c.SequenceNumber).Key(), Shard: c.ShardID}
}

// Compare orders a before b (-1), equal (0) or after (+1).
func (a Order) Compare(b Order) int {
	if c := strings.Compare(a.Stream, b.Stream); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Depth, b.Depth); c != 0 {
		return c
	}
	if c := strings.Compare(a.Seq, b.Seq); c != 0 {
		return c
	}
	return strings.Compare(a.Shard, b.Shard)
}

func streamLabel(arn string) string { return ledger.StreamLabel(arn) }
