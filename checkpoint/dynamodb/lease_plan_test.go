package dynamodb

import (
	"fmt"
	"reflect"
	"testing"
)

func TestLeasePlan(t *testing.T) {
	// l builds a lease: shard id "sN" starting at sequence N, so lineage order is N order.
	l := func(n int, owner string) LeaseInfo {
		return LeaseInfo{ShardID: fmt.Sprintf("s%02d", n), StartingSequence: fmt.Sprint(100 + n), Owner: owner}
	}
	child := func(n, parent int, owner string) LeaseInfo {
		in := l(n, owner)
		in.ParentShardID = fmt.Sprintf("s%02d", parent)
		return in
	}
	finished := func(in LeaseInfo) LeaseInfo { in.Finished = true; in.Owner = ""; return in }
	many := func(owner string, from, n int) []LeaseInfo {
		var out []LeaseInfo
		for i := from; i < from+n; i++ {
			out = append(out, l(i, owner))
		}
		return out
	}
	cat := func(parts ...[]LeaseInfo) []LeaseInfo {
		var out []LeaseInfo
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	tests := []struct {
		name      string
		leases    []LeaseInfo
		held      []string // held by "me" locally (their Owner must be "me")
		expired   []string
		listed    []string // this worker's listing of the stream; nil: every lease's shard
		maxSteals int
		wantTake  []string
		wantSteal []string
	}{
		{name: "alone, every free lease, oldest first", leases: []LeaseInfo{l(3, ""), l(1, ""), l(2, "")}, maxSteals: 1,
			wantTake: []string{"s01", "s02", "s03"}},
		{name: "nothing to do at the fair share", leases: cat(many("me", 0, 2), many("b", 2, 2)), held: []string{"s00", "s01"}, maxSteals: 1},
		{name: "free leases up to the fair share only", leases: cat(many("b", 0, 2), many("", 2, 4)), maxSteals: 1,
			wantTake: []string{"s02", "s03", "s04"}},
		{name: "an expired lease is free", leases: cat(many("dead", 0, 3), many("b", 3, 3)), expired: []string{"s00", "s01", "s02"}, maxSteals: 1,
			wantTake: []string{"s00", "s01", "s02"}},
		{name: "steal from the most loaded, newest shard, bounded per beat", leases: cat(many("b", 0, 6), many("c", 6, 2)), maxSteals: 1,
			wantSteal: []string{"s05"}},
		{name: "several steals when allowed", leases: many("b", 0, 6), maxSteals: 5,
			wantSteal: []string{"s05", "s04", "s03"}},
		{name: "no steal over a difference of one", leases: cat(many("me", 0, 3), many("b", 3, 4), many("c", 7, 4)), held: []string{"s00", "s01", "s02"}, maxSteals: 3},
		{name: "a difference of two is evened", leases: cat(many("me", 0, 2), many("b", 2, 4), many("c", 6, 4)), held: []string{"s00", "s01"}, maxSteals: 3,
			wantSteal: []string{"s05"}},
		{name: "child waits for its unfinished parent", leases: []LeaseInfo{l(1, "b"), child(2, 1, ""), child(3, 1, "")}, maxSteals: 1},
		{name: "child of a finished parent is free", leases: []LeaseInfo{finished(l(1, "")), child(2, 1, ""), child(3, 1, "")}, maxSteals: 1,
			wantTake: []string{"s02", "s03"}},
		{name: "child of an untracked parent is free", leases: []LeaseInfo{child(2, 1, "")}, maxSteals: 1, wantTake: []string{"s02"}},
		{name: "child whose listed parent has no row yet waits", leases: []LeaseInfo{child(2, 1, ""), child(3, 1, "")},
			listed: []string{"s01", "s02", "s03"}, maxSteals: 1},
		{name: "child not in my listing waits for a parent without a row", leases: []LeaseInfo{child(2, 1, ""), l(4, "")},
			listed: []string{"s04"}, maxSteals: 1, wantTake: []string{"s04"}},
		{name: "children of a parent trimmed away (in no listing) are workable", leases: []LeaseInfo{child(2, 1, "b"), child(3, 1, "")},
			listed: []string{"s02", "s03"}, maxSteals: 1, wantTake: []string{"s03"}},
		{name: "grandchild waits while its parent waits for a parent without a row", leases: []LeaseInfo{child(2, 1, ""), child(5, 2, "")},
			listed: []string{"s01", "s02", "s05"}, maxSteals: 1},
		{name: "a shard naming itself as parent is free", leases: []LeaseInfo{child(2, 2, "")}, maxSteals: 1, wantTake: []string{"s02"}},
		{name: "finished leases are neither taken nor counted", leases: []LeaseInfo{finished(l(1, "")), finished(l(2, "")), l(3, "b"), l(4, "")}, maxSteals: 1,
			wantTake: []string{"s04"}},
		{name: "my previous process's lease waits for expiry", leases: []LeaseInfo{l(1, "me")}, maxSteals: 1},
		{name: "my previous process's expired lease is free", leases: []LeaseInfo{l(1, "me")}, expired: []string{"s01"}, maxSteals: 1, wantTake: []string{"s01"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			held := map[string]bool{}
			for _, id := range tt.held {
				held[id] = true
			}
			expired := map[string]bool{}
			for _, id := range tt.expired {
				expired[id] = true
			}
			listed := map[string]bool{}
			for _, in := range tt.leases {
				listed[in.ShardID] = tt.listed == nil
			}
			for _, id := range tt.listed {
				listed[id] = true
			}
			take, steal := plan("me", tt.leases, func(id string) bool { return held[id] }, func(id string) bool { return listed[id] },
				func(in LeaseInfo) bool { return expired[in.ShardID] }, tt.maxSteals)
			if got := ids(take); !reflect.DeepEqual(got, tt.wantTake) {
				t.Errorf("take = %v, want %v", got, tt.wantTake)
			}
			if got := ids(steal); !reflect.DeepEqual(got, tt.wantSteal) {
				t.Errorf("steal = %v, want %v", got, tt.wantSteal)
			}
		})
	}
}

func ids(in []LeaseInfo) []string {
	var out []string
	for _, i := range in {
		out = append(out, i.ShardID)
	}
	return out
}

func TestUnowned_CountsReadableShardsWithoutALiveOwner(t *testing.T) {
	l := func(id, parent, owner string, finished bool) LeaseInfo {
		return LeaseInfo{ShardID: id, ParentShardID: parent, Owner: owner, Finished: finished}
	}
	tests := []struct {
		name    string
		leases  []LeaseInfo
		expired []string
		want    int
	}{
		{name: "every lease owned", leases: []LeaseInfo{l("a", "", "w1", false), l("b", "", "w2", false)}, want: 0},
		{name: "a free lease", leases: []LeaseInfo{l("a", "", "w1", false), l("b", "", "", false)}, want: 1},
		{name: "an expired lease", leases: []LeaseInfo{l("a", "", "dead", false), l("b", "", "w2", false)}, expired: []string{"a"}, want: 1},
		{name: "finished shards need nobody", leases: []LeaseInfo{l("a", "", "", true)}, want: 0},
		{name: "a child waiting for its unfinished parent is not counted", leases: []LeaseInfo{l("a", "", "w1", false), l("b", "a", "", false)}, want: 0},
		{name: "a child of a finished parent is", leases: []LeaseInfo{l("a", "", "", true), l("b", "a", "", false)}, want: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			exp := map[string]bool{}
			for _, id := range tc.expired {
				exp[id] = true
			}
			if got := unowned(tc.leases, func(in LeaseInfo) bool { return exp[in.ShardID] }); got != tc.want {
				t.Errorf("unowned = %d, want %d", got, tc.want)
			}
		})
	}
}
