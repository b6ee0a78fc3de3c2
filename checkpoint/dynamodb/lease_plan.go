package dynamodb

import (
	"slices"
	"strings"

	"github.com/ddbtape/ddbtape/shards"
)

// plan decides which leases this worker takes in one heartbeat. It is a pure function of
// the scan so the balancing rules are tested on their own.
//
// Only workable leases count: not finished, and not waiting for their parent (see
// waitsForParent), so a child waits for its parent whoever held the parent. The fair
// share is the workable leases divided by the live workers (owners of leases that are
// not expired, plus this worker), rounded up. Below it, the worker first takes leases
// nobody holds or whose holder stopped renewing, oldest data first; if that is not
// enough it steals from the most loaded worker while that one holds at least two more
// than this one, at most maxSteals per heartbeat so that a worker joining a fleet moves
// shards gradually.
//
// held reports the leases this process holds; a lease the scan shows owned by me but not
// held (a previous process with the same worker id) counts as another worker's and is
// taken only once it expires, so two processes given one id cannot take turns forever.
//
// listed reports the shards of this worker's latest listing of the stream.
func plan(me string, leases []LeaseInfo, held, listed func(shardID string) bool, expired func(LeaseInfo) bool, maxSteals int) (take, steal []LeaseInfo) {
	byID := make(map[string]LeaseInfo, len(leases))
	for _, l := range leases {
		byID[l.ShardID] = l
	}
	workable := make([]LeaseInfo, 0, len(leases))
	for _, l := range leases {
		if l.Finished {
			continue
		}
		if waitsForParent(l, byID, listed) {
			continue
		}
		workable = append(workable, l)
	}
	slices.SortFunc(workable, func(a, b LeaseInfo) int {
		if c := shards.SequenceNumber(a.StartingSequence).Compare(shards.SequenceNumber(b.StartingSequence)); c != 0 {
			return c
		}
		return strings.Compare(a.ShardID, b.ShardID)
	})

	const previous = " (previous process)"
	counts := map[string][]LeaseInfo{me: nil}
	var free []LeaseInfo
	mine := 0
	for _, l := range workable {
		switch {
		case held(l.ShardID):
			mine++
		case l.Owner == "" || expired(l):
			free = append(free, l)
		default:
			owner := l.Owner
			if owner == me {
				owner += previous
			}
			counts[owner] = append(counts[owner], l)
		}
	}
	target := (len(workable) + len(counts) - 1) / len(counts)
	need := target - mine
	if need <= 0 {
		return nil, nil
	}
	take = free[:min(need, len(free))]
	need -= len(take)
	mine += len(take)

	for ; need > 0 && maxSteals > 0; need, maxSteals = need-1, maxSteals-1 {
		victim := ""
		for owner, ls := range counts {
			if owner == me {
				continue
			}
			if victim == "" || len(ls) > len(counts[victim]) || (len(ls) == len(counts[victim]) && owner < victim) {
				victim = owner
			}
		}
		if victim == "" || len(counts[victim]) < mine+2 {
			break
		}
		// The victim's newest shard: its oldest data is what retention trims first, so
		// the current holder keeps reading that.
		ls := counts[victim]
		steal = append(steal, ls[len(ls)-1])
		counts[victim] = ls[:len(ls)-1]
		mine++
	}
	return take, steal
}

// waitsForParent reports whether l's shard must wait for its parent: the parent's row shows
// it unfinished, or the parent has no row yet. Rows are created one at a time by whichever
// worker lists a shard first, so a child's row can exist before its parent's; a missing
// parent row is only taken to mean the parent is gone (trimmed away by the stream's
// retention, so nothing is left to read before the child) when this worker's own listing
// has the child but not the parent. A listing that has both means the parent's row is on
// its way; a listing that lacks the child (another worker listed it later) cannot tell,
// and the next listing will.
func waitsForParent(l LeaseInfo, byID map[string]LeaseInfo, listed func(string) bool) bool {
	if l.ParentShardID == "" || l.ParentShardID == l.ShardID {
		return false
	}
	if p, ok := byID[l.ParentShardID]; ok {
		return !p.Finished
	}
	return !listed(l.ShardID) || listed(l.ParentShardID)
}

// unowned counts the leases that could be read now (not finished, and with no unfinished
// parent among leases) that nobody holds: free, or expired by expired.
func unowned(leases []LeaseInfo, expired func(LeaseInfo) bool) int {
	byID := make(map[string]LeaseInfo, len(leases))
	for _, l := range leases {
		byID[l.ShardID] = l
	}
	n := 0
	for _, l := range leases {
		if l.Finished {
			continue
		}
		if p, ok := byID[l.ParentShardID]; ok && l.ParentShardID != l.ShardID && !p.Finished {
			continue
		}
		if l.Owner == "" || expired(l) {
			n++
		}
	}
	return n
}
