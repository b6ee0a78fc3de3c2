package catalog

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/ddbtape/ddbtape/ledger"
)

// StampMargin is one stamp unit of DynamoDB Local (a minute; DynamoDB stamps to the
// second) plus room for clock skew and for a record to appear in the stream after its
// write. The replay starts this far before a snapshot's start, a poll that found a shard
// caught up covers it only up to this far before DynamoDB's clock, and a stream's records
// are stamped after its creation less this.
const StampMargin = time.Minute

// far stands for "no limit": a shard read to its end is covered forever.
var far = time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)

// limit is one constraint on a window's end: restorable times are at or before at.
type limit struct {
	at     time.Time
	reason string
	shard  string
	gap    *ledger.Gap
}

func (l limit) tighter(o limit) limit {
	if o.at.Before(l.at) {
		return o
	}
	return l
}

// stream is one stream of the model, with its shards.
type stream struct {
	ledger.Stream
	// start is a strict lower bound of its records' stamps: its creation less a margin
	// (zero when its creation is unknown).
	start  time.Time
	shards []ledger.ShardKey // sorted by id
}

// model is the coverage a ledger state proves, ready to be asked about windows.
type model struct {
	st       ledger.State
	streams  []stream // oldest first
	children map[ledger.ShardKey]int
}

func newModel(st ledger.State) model {
	m := model{st: st, children: map[ledger.ShardKey]int{}}
	byARN := map[string]int{}
	for _, arn := range slices.Sorted(mapKeys(st.Streams)) {
		s := stream{Stream: st.Streams[arn]}
		created := s.Created
		if created.IsZero() {
			created, _ = ledger.LabelTime(ledger.StreamLabel(arn))
		}
		if !created.IsZero() {
			s.Created, s.start = created, created.Add(-StampMargin)
		}
		m.streams = append(m.streams, s)
	}
	slices.SortFunc(m.streams, func(a, b stream) int {
		if c := a.Created.Compare(b.Created); c != 0 && !a.Created.IsZero() && !b.Created.IsZero() {
			return c
		}
		return strings.Compare(ledger.StreamLabel(a.ARN), ledger.StreamLabel(b.ARN))
	})
	for i, s := range m.streams {
		byARN[s.ARN] = i
	}
	keys := slices.SortedFunc(mapKeys(st.Shards), func(a, b ledger.ShardKey) int { return strings.Compare(a.Shard, b.Shard) })
	for _, k := range keys {
		i, ok := byARN[k.Stream]
		if !ok {
			continue
		}
		m.streams[i].shards = append(m.streams[i].shards, k)
		if p := st.Shards[k].ParentID; p != "" {
			m.children[ledger.ShardKey{Stream: k.Stream, Shard: p}]++
		}
	}
	return m
}

// born is a strict lower bound of the stamps of k's records (zero: unknown): the latest of
// what its shard fact says, its stream's start, and its parent's open coverage (a child
// receives records only after its parent closed; see the package doc).
func (m model) born(k ledger.ShardKey, s stream) time.Time {
	b := m.st.Shards[k].BornAfter
	if s.start.After(b) {
		b = s.start
	}
	if p := m.st.Shards[k].ParentID; p != "" {
		if pc, ok := m.st.Coverage[ledger.ShardKey{Stream: k.Stream, Shard: p}]; ok && pc.OpenUntil.After(b) {
			b = pc.OpenUntil
		}
	}
	return b
}

// streamEnd is the latest T such that every record of stream s stamped in [r, T] is
// stored, by its shards' coverage. ended says that s was replaced by a newer stream:
// then a shard read to its end has no children to wait for.
func (m model) streamEnd(s stream, r time.Time, ended bool) limit {
	if len(s.shards) == 0 {
		// Its shards were never listed: nothing of it is known to be stored.
		return limit{at: r.Add(-time.Millisecond), reason: fmt.Sprintf("no shard of stream %s is recorded yet (run capture)", ledger.StreamLabel(s.ARN))}
	}
	res := limit{at: far}
	for _, k := range s.shards {
		cov, read := m.st.Coverage[k]
		if cov.Finished && !cov.EndedBy.IsZero() && cov.EndedBy.Before(r) {
			continue // its every record is stamped before r
		}
		b := m.born(k, s)
		a := r
		if b.After(a) {
			a = b
		}
		var l limit
		switch sp, ok := cov.SpanAt(a); {
		case ok && sp.ToEnd:
			l = limit{at: far}
		case ok:
			l = limit{at: sp.Until, reason: fmt.Sprintf("shard %s is covered only until %s", k.Shard, formatTime(sp.Until)), shard: k.Shard}
		case !b.IsZero() && !b.Before(r):
			// No record of it is stamped at or before b, so times up to b need none of it.
			l = limit{at: b, shard: k.Shard, reason: fmt.Sprintf("shard %s has not been read yet", k.Shard)}
			if len(cov.Spans) > 0 {
				l.reason = fmt.Sprintf("shard %s is not covered after %s", k.Shard, formatTime(b))
			}
		default:
			l = limit{at: r.Add(-time.Millisecond), shard: k.Shard, reason: fmt.Sprintf("shard %s has not been read yet", k.Shard)}
			if read && len(cov.Spans) > 0 {
				l.reason = fmt.Sprintf("shard %s is not covered at %s (%s)", k.Shard, formatTime(r), describeSpans(cov.Spans))
			}
		}
		if cov.Finished && !ended && m.children[k] == 0 {
			// Read to its end, but its children are not listed yet: they receive records
			// stamped after its open coverage, and nobody has read them.
			hold := cov.OpenUntil
			if b.After(hold) {
				hold = b
			}
			if hold.Before(l.at) {
				l = limit{at: hold, shard: k.Shard, reason: fmt.Sprintf("shard %s was read to its end at %s and its children are not listed yet", k.Shard, formatTime(hold))}
			}
		}
		res = res.tighter(l)
	}
	return res
}

// leastCoveredLeaf is where the least covered shard of s without children stops: where
// the era of a replaced stream ends.
func (m model) leastCoveredLeaf(s stream) time.Time {
	var out time.Time
	first := true
	for _, k := range s.shards {
		if m.children[k] > 0 {
			continue
		}
		u := m.st.Coverage[k].OpenUntil
		if b := m.born(k, s); b.After(u) {
			u = b
		}
		if first || u.Before(out) {
			out, first = u, false
		}
	}
	return out
}

// end is the latest restorable time for a snapshot that started at started, replayed from
// r: the tightest limit of every stream and gap. A result before r means none.
func (m model) end(r, started time.Time) limit {
	if len(m.streams) == 0 {
		return limit{at: r.Add(-time.Millisecond), reason: "no capture has recorded the table's stream yet: run ddbtape capture"}
	}
	res := limit{at: far}
	if first := m.streams[0]; !first.Created.IsZero() && started.Before(first.Created) {
		return limit{at: r.Add(-time.Millisecond), reason: fmt.Sprintf("the snapshot started before the table's stream existed (created %s): changes between them are in no stream; take a snapshot now, or restore this one alone with --snapshot",
			formatTime(first.Created))}
	}
	for i, s := range m.streams {
		if i == len(m.streams)-1 {
			res = res.tighter(m.streamEnd(s, r, false))
			if !s.ListedAt.IsZero() {
				res = res.tighter(limit{at: s.ListedAt.Add(-StampMargin), reason: fmt.Sprintf("the stream's shards were last listed at %s (run capture)", formatTime(s.ListedAt))})
			}
			continue
		}
		next := m.streams[i+1]
		if !next.Created.IsZero() && !r.Before(next.Created) {
			continue // every record of s is stamped before r
		}
		if started.Before(next.Created) {
			// The table's stream was replaced after the snapshot started: the era of s ends
			// where its least covered shard stops, and nothing is known between then and
			// the new stream's creation.
			e := m.streamEnd(s, r, false)
			e.reason = fmt.Sprintf("the table's stream was replaced (new stream created %s); the old stream is covered until %s: %s",
				formatTime(next.Created), formatTime(e.at), e.reason)
			res = res.tighter(e)
			continue
		}
		// The snapshot saw everything up to the new stream; the replay needs only the old
		// stream's records stamped from r on, all of them.
		if e := m.streamEnd(s, r, true); e.at.Before(far) {
			res = res.tighter(limit{at: r.Add(-time.Millisecond), shard: e.shard,
				reason: fmt.Sprintf("the replaced stream %s is not read to its end: %s", ledger.StreamLabel(s.ARN), e.reason)})
		}
	}
	for i := range m.st.Gaps {
		g := &m.st.Gaps[i]
		if g.To.Before(r) {
			continue
		}
		// A gap explains a shard's coverage ending where it starts better than the end does.
		if l := (limit{at: g.From, shard: g.ShardID, gap: g, reason: describeGap(*g)}); !l.at.After(res.at) {
			res = l
		}
	}
	return res
}

func describeGap(g ledger.Gap) string {
	from := "its start"
	if !g.From.IsZero() {
		from = formatTime(g.From)
	}
	what := "shard " + g.ShardID
	if g.ShardID == ledger.AllShards {
		what = "every shard"
	}
	s := fmt.Sprintf("gap in %s from %s to %s", what, from, formatTime(g.To))
	if g.Reason != "" {
		s += " (" + g.Reason + ")"
	}
	return s
}

func describeSpans(spans []ledger.Span) string {
	parts := make([]string, 0, len(spans))
	for _, s := range spans {
		if s.ToEnd {
			parts = append(parts, fmt.Sprintf("covered from %s to its end", formatTime(s.From)))
		} else {
			parts = append(parts, fmt.Sprintf("covered %s to %s", formatTime(s.From), formatTime(s.Until)))
		}
	}
	return strings.Join(parts, ", ")
}

func formatTime(t time.Time) string {
	switch {
	case t.IsZero():
		return "(unknown)"
	case !t.Before(far):
		return "(no end)"
	}
	return t.UTC().Format(time.RFC3339Nano)
}

func mapKeys[K comparable, V any](m map[K]V) func(func(K) bool) {
	return func(yield func(K) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}
