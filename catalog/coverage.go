package catalog

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/ddbtape/ddbtape/checkpoint"
)

// StampMargin is how far before a snapshot's start the replay begins: one stamp unit of
// DynamoDB Local (a minute; DynamoDB stamps to the second) plus room for clock skew.
const StampMargin = time.Minute

// ErrNoCoverage means the backup cannot rebuild the table at the time asked for: no
// snapshot finished before it, a shard was not read far enough, or a gap lies across it.
var ErrNoCoverage = errors.New("the backup does not cover that time: pick a time inside a restorable window (ddbtape status lists them), or take a new snapshot")

// Window is a closed interval of restorable times.
type Window struct {
	From  time.Time `json:"from"`
	Until time.Time `json:"until"`
	// SnapshotID is the snapshot whose finish opens the window.
	SnapshotID string `json:"snapshot_id"`
}

func (w Window) String() string {
	return fmt.Sprintf("%s to %s", formatTime(w.From), formatTime(w.Until))
}

// Contains reports whether t is inside the window (both ends inclusive).
func (w Window) Contains(t time.Time) bool { return !t.Before(w.From) && !t.After(w.Until) }

// CoverageError says why [From, At] cannot be restored. It wraps ErrNoCoverage.
type CoverageError struct {
	At   time.Time
	From time.Time // R, the start of the replay; zero when no snapshot qualified
	// Reason is one clause naming the shard or gap at fault.
	Reason  string
	ShardID string
	Gap     *checkpoint.Gap
	Windows []Window
}

func (e *CoverageError) Error() string {
	var b strings.Builder
	if e.From.IsZero() {
		fmt.Fprintf(&b, "cannot restore at %s: %s", formatTime(e.At), e.Reason)
	} else {
		fmt.Fprintf(&b, "cannot restore at %s: replay from %s to %s is not covered: %s", formatTime(e.At), formatTime(e.From), formatTime(e.At), e.Reason)
	}
	b.WriteString("; ")
	b.WriteString(describeWindows(e.Windows))
	return b.String()
}

func (e *CoverageError) Unwrap() error { return ErrNoCoverage }

func describeWindows(ws []Window) string {
	if len(ws) == 0 {
		return "nothing is restorable yet (a complete snapshot and a capture that has caught up are needed)"
	}
	parts := make([]string, len(ws))
	for i, w := range ws {
		parts[i] = w.String()
	}
	if len(ws) == 1 {
		return "restorable window: " + parts[0]
	}
	return "restorable windows: " + strings.Join(parts, ", ")
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return "(unknown)"
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// coverage is what the checkpoint says about the newest stream, computed once per listing.
type coverage struct {
	// end is the window end; endShard the leaf that holds it there.
	end      time.Time
	endShard string
	// from is the latest effective CoveredFrom; fromShard its shard. fromMissing is set
	// when a root records none (it covers nothing).
	from        time.Time
	fromShard   string
	fromMissing bool
	gaps        []checkpoint.Gap
	noShards    bool
}

func newCoverage(t checkpoint.Table) coverage {
	c := coverage{gaps: t.Gaps}
	newest := ""
	for _, p := range t.Shards {
		if newest == "" || newerStream(p.StreamARN, newest) {
			newest = p.StreamARN
		}
	}
	pos := map[string]checkpoint.Position{}
	for id, p := range t.Shards {
		if p.StreamARN == newest {
			pos[id] = p
		}
	}
	if len(pos) == 0 {
		c.noShards = true
		return c
	}
	hasChild := map[string]bool{}
	for _, p := range pos {
		if p.ParentShardID != "" {
			hasChild[p.ParentShardID] = true
		}
	}
	ids := make([]string, 0, len(pos))
	for id := range pos {
		ids = append(ids, id)
	}
	sort.Strings(ids) // deterministic choice of the shard named in errors
	first := true
	for _, id := range ids {
		p := pos[id]
		if !hasChild[id] && (first || p.CoveredUntil.Before(c.end)) {
			c.end, c.endShard, first = p.CoveredUntil, id, false
		}
		from, ok := effectiveCoveredFrom(id, pos)
		switch {
		case !ok:
			if !c.fromMissing {
				c.fromMissing, c.fromShard = true, id
			}
		case !c.fromMissing && (c.fromShard == "" || from.After(c.from)):
			c.from, c.fromShard = from, id
		}
	}
	return c
}

// effectiveCoveredFrom follows zero CoveredFrom up to the parent; false when a shard
// without a parent among pos (a root) records none.
func effectiveCoveredFrom(id string, pos map[string]checkpoint.Position) (time.Time, bool) {
	for hops := 0; hops <= len(pos); hops++ {
		p := pos[id]
		if !p.CoveredFrom.IsZero() {
			return p.CoveredFrom, true
		}
		if _, ok := pos[p.ParentShardID]; !ok || p.ParentShardID == "" {
			return time.Time{}, false
		}
		id = p.ParentShardID
	}
	return time.Time{}, false
}

func newerStream(a, b string) bool {
	la, lb := streamLabel(a), streamLabel(b)
	if la != lb {
		return la > lb
	}
	return a > b
}

// check returns why [r, at] is not covered, or "" when it is.
func (c coverage) check(r, at time.Time) (reason, shard string, gap *checkpoint.Gap) {
	if c.noShards {
		return "the checkpoint records no shard: run ddbtape capture", "", nil
	}
	if at.After(c.end) {
		if c.end.IsZero() {
			return fmt.Sprintf("shard %s has not been read up to its tip yet", c.endShard), c.endShard, nil
		}
		return fmt.Sprintf("shard %s is covered only until %s", c.endShard, formatTime(c.end)), c.endShard, nil
	}
	if c.fromMissing {
		return fmt.Sprintf("shard %s records no covered_from, so its older records may be missing", c.fromShard), c.fromShard, nil
	}
	if c.from.After(r) {
		return fmt.Sprintf("shard %s is covered only from %s", c.fromShard, formatTime(c.from)), c.fromShard, nil
	}
	for i := range c.gaps {
		g := &c.gaps[i]
		if gapIntersects(*g, r, at) {
			from := "its start"
			if !g.From.IsZero() {
				from = formatTime(g.From)
			}
			reason := fmt.Sprintf("gap in shard %s from %s to %s", g.ShardID, from, formatTime(g.DetectedAt))
			if g.Reason != "" {
				reason += " (" + g.Reason + ")"
			}
			return reason, g.ShardID, g
		}
	}
	return "", "", nil
}

// gapIntersects reports whether (g.From, g.DetectedAt] meets [r, at]; a zero From is -inf.
func gapIntersects(g checkpoint.Gap, r, at time.Time) bool {
	return (g.From.IsZero() || g.From.Before(at)) && !g.DetectedAt.Before(r)
}

// windowUntil is the last T for which a replay from r is covered; ok is false when none is.
func (c coverage) windowUntil(r time.Time) (time.Time, bool) {
	if c.noShards || c.fromMissing || c.from.After(r) || c.end.IsZero() {
		return time.Time{}, false
	}
	until := c.end
	for _, g := range c.gaps {
		if g.DetectedAt.Before(r) {
			continue
		}
		if g.From.IsZero() {
			return time.Time{}, false
		}
		if g.From.Before(until) {
			until = g.From
		}
	}
	return until, true
}
