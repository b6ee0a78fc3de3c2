package ledger

import (
	"cmp"
	"slices"
	"strings"
	"time"

	"github.com/ddbtape/ddbtape/globaltable"
)

// ShardKey names a shard across the streams of a table.
type ShardKey struct {
	Stream string // ARN
	Shard  string // id
}

// Span is a closed interval of stamps; ToEnd makes it open to the future (the shard was
// read to its end).
type Span struct {
	From  time.Time `json:"from"`
	Until time.Time `json:"until,omitzero"`
	ToEnd bool      `json:"to_end,omitempty"`
}

// Contains reports whether t is inside the span.
func (s Span) Contains(t time.Time) bool {
	return !t.Before(s.From) && (s.ToEnd || !t.After(s.Until))
}

// Coverage is what the marks of one shard combine to.
type Coverage struct {
	// Spans are disjoint and sorted; only the last may be ToEnd.
	Spans []Span `json:"spans"`
	// OpenUntil is the latest Until of any mark: how far the shard was covered while open.
	OpenUntil time.Time `json:"open_until,omitzero"`
	Finished  bool      `json:"finished,omitempty"`
	// EndedBy is the earliest EndedBy of any mark (zero: unknown).
	EndedBy        time.Time `json:"ended_by,omitzero"`
	LastSequence   string    `json:"last_sequence,omitempty"`
	LastRecordTime time.Time `json:"last_record_time,omitzero"`
}

// SpanAt returns the span holding t.
func (c Coverage) SpanAt(t time.Time) (Span, bool) {
	for _, s := range c.Spans {
		if s.Contains(t) {
			return s, true
		}
	}
	return Span{}, false
}

// State is the combination of ledger entries, as the package doc says. The zero State is
// empty; Add combines entries into it.
type State struct {
	Streams  map[string]Stream
	Shards   map[ShardKey]Shard
	Coverage map[ShardKey]Coverage
	Gaps     []Gap
	// Files are the recorded backup files (Object facts), by key.
	Files map[string]Object
	// ObjectConflicts holds, for each key whose facts disagree, every fact of it (see the
	// package doc); Files has the one readers check against.
	ObjectConflicts map[string][]Object
	// Objects counts the ledger objects read into it.
	Objects int
}

// Empty reports whether the state holds no fact.
func (s *State) Empty() bool {
	return len(s.Streams) == 0 && len(s.Shards) == 0 && len(s.Coverage) == 0 && len(s.Gaps) == 0 && len(s.Files) == 0
}

func (s *State) init() {
	if s.Streams == nil {
		s.Streams = map[string]Stream{}
		s.Shards = map[ShardKey]Shard{}
		s.Coverage = map[ShardKey]Coverage{}
	}
	if s.Files == nil {
		s.Files = map[string]Object{}
	}
}

// Add combines the facts of e into s.
func (s *State) Add(e Entry) {
	s.init()
	for _, f := range e.Streams {
		s.AddStream(f)
	}
	for _, f := range e.Shards {
		s.AddShard(f)
	}
	for _, m := range e.Marks {
		s.AddMark(m)
	}
	for _, g := range e.Gaps {
		s.AddGap(g)
	}
	for _, o := range e.Objects {
		s.AddObject(o)
	}
}

// AddObject combines one file fact into s: facts of a key agree; when two do not, the
// smaller SHA-256 (then size) is kept and the key is listed in ObjectConflicts.
func (s *State) AddObject(o Object) {
	s.init()
	if o.Key == "" {
		return
	}
	old, ok := s.Files[o.Key]
	if !ok || old == o {
		s.Files[o.Key] = o
		return
	}
	if s.ObjectConflicts == nil {
		s.ObjectConflicts = map[string][]Object{}
	}
	facts := s.ObjectConflicts[o.Key]
	if len(facts) == 0 {
		facts = []Object{old}
	}
	if !slices.Contains(facts, o) {
		facts = append(facts, o)
		slices.SortFunc(facts, compareObjects)
	}
	s.ObjectConflicts[o.Key] = facts
	s.Files[o.Key] = facts[0]
}

func compareObjects(a, b Object) int {
	return cmp.Or(strings.Compare(a.SHA256, b.SHA256), cmp.Compare(a.Size, b.Size))
}

// AddStream combines one stream fact into s.
func (s *State) AddStream(f Stream) {
	s.init()
	if f.ARN == "" {
		return
	}
	if f.Label == "" {
		f.Label = StreamLabel(f.ARN)
	}
	old, ok := s.Streams[f.ARN]
	if !ok {
		s.Streams[f.ARN] = f
		return
	}
	old.ViewType = max(old.ViewType, f.ViewType)
	old.Created = earliest(old.Created, f.Created)
	old.FirstSeen = earliest(old.FirstSeen, f.FirstSeen)
	old.ListedAt = latest(old.ListedAt, f.ListedAt)
	s.Streams[f.ARN] = old
}

// AddShard combines one shard fact into s; its stream is added if unknown.
func (s *State) AddShard(f Shard) {
	s.init()
	if f.ID == "" {
		return
	}
	if _, ok := s.Streams[f.StreamARN]; !ok {
		s.AddStream(Stream{ARN: f.StreamARN})
	}
	if f.Start == "" {
		f.StartedAt = time.Time{}
	}
	k := ShardKey{f.StreamARN, f.ID}
	old, ok := s.Shards[k]
	if !ok {
		s.Shards[k] = f
		return
	}
	old.ParentID = max(old.ParentID, f.ParentID) // they agree; max keeps it order-free
	old.FirstSeen = earliest(old.FirstSeen, f.FirstSeen)
	old.BornAfter = latest(old.BornAfter, f.BornAfter)
	if f.Start != "" && (old.Start == "" || f.StartedAt.Before(old.StartedAt) || f.StartedAt.Equal(old.StartedAt) && f.Start < old.Start) {
		old.Start, old.StartedAt = f.Start, f.StartedAt
	}
	s.Shards[k] = old
}

// AddMark combines one coverage claim into s; its shard is added if unknown.
func (s *State) AddMark(m Mark) {
	s.init()
	k := ShardKey{m.StreamARN, m.ShardID}
	if _, ok := s.Shards[k]; !ok {
		s.AddShard(Shard{StreamARN: m.StreamARN, ID: m.ShardID})
	}
	c := s.Coverage[k]
	c.OpenUntil = latest(c.OpenUntil, m.Until)
	if seqGreater(m.LastSequence, c.LastSequence) {
		c.LastSequence = m.LastSequence
	}
	c.LastRecordTime = latest(c.LastRecordTime, m.LastRecordTime)
	if !m.EndedBy.IsZero() && (c.EndedBy.IsZero() || m.EndedBy.Before(c.EndedBy)) {
		c.EndedBy = m.EndedBy
	}
	switch {
	case m.Finished:
		c.Finished = true
		c.Spans = addSpan(c.Spans, Span{From: m.From, ToEnd: true})
	case !m.Until.IsZero() && !m.Until.Before(m.From):
		c.Spans = addSpan(c.Spans, Span{From: m.From, Until: m.Until})
	}
	s.Coverage[k] = c
}

// AddGap adds a gap to s unless the same gap is there already.
func (s *State) AddGap(g Gap) {
	s.init()
	for _, o := range s.Gaps {
		if o.StreamARN == g.StreamARN && o.ShardID == g.ShardID && o.From.Equal(g.From) && o.To.Equal(g.To) && o.Cause == g.Cause &&
			o.Reason == g.Reason && o.DetectedAt.Equal(g.DetectedAt) && o.AfterSequence == g.AfterSequence {
			return
		}
	}
	s.Gaps = append(s.Gaps, g)
	slices.SortFunc(s.Gaps, func(a, b Gap) int {
		return cmp.Or(a.To.Compare(b.To), strings.Compare(a.StreamARN, b.StreamARN), strings.Compare(a.ShardID, b.ShardID),
			a.From.Compare(b.From), strings.Compare(a.Cause, b.Cause), strings.Compare(a.Reason, b.Reason),
			a.DetectedAt.Compare(b.DetectedAt), strings.Compare(a.AfterSequence, b.AfterSequence))
	})
}

// Merge combines every fact of o into s.
func (s *State) Merge(o State) { s.Add(o.Entry("", "", time.Time{})) }

// Entry returns the facts of s as one entry: combining it gives s back. Consolidation
// writes it.
func (s *State) Entry(table, writer string, at time.Time) Entry {
	e := Entry{Version: Version, Table: table, Writer: writer, WrittenAt: at}
	for _, arn := range sortedKeys(s.Streams) {
		e.Streams = append(e.Streams, s.Streams[arn])
	}
	keys := make([]ShardKey, 0, len(s.Shards))
	for k := range s.Shards {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b ShardKey) int {
		return cmp.Or(strings.Compare(a.Stream, b.Stream), strings.Compare(a.Shard, b.Shard))
	})
	for _, k := range keys {
		e.Shards = append(e.Shards, s.Shards[k])
		c, ok := s.Coverage[k]
		if !ok {
			continue
		}
		// One mark per span; the per-shard maxima ride on the last one, and a mark with
		// only them (no span yet) keeps them when there is no span.
		for i, sp := range c.Spans {
			m := Mark{StreamARN: k.Stream, ShardID: k.Shard, From: sp.From, Until: sp.Until}
			if sp.ToEnd {
				m.Finished, m.EndedBy, m.Until = true, c.EndedBy, time.Time{}
			}
			if i == len(c.Spans)-1 {
				m.LastSequence, m.LastRecordTime = c.LastSequence, c.LastRecordTime
			}
			e.Marks = append(e.Marks, m)
		}
		if len(c.Spans) == 0 || !c.OpenUntil.IsZero() || !c.EndedBy.IsZero() {
			// OpenUntil may exceed every finite span (a finished shard): keep it with an
			// empty claim (From after Until adds no span).
			e.Marks = append(e.Marks, Mark{StreamARN: k.Stream, ShardID: k.Shard, From: c.OpenUntil.Add(time.Millisecond), Until: c.OpenUntil,
				EndedBy: c.EndedBy, LastSequence: c.LastSequence, LastRecordTime: c.LastRecordTime})
		}
	}
	e.Gaps = append(e.Gaps, s.Gaps...)
	for _, k := range sortedKeys(s.Files) {
		if facts, ok := s.ObjectConflicts[k]; ok {
			e.Objects = append(e.Objects, facts...)
			continue
		}
		e.Objects = append(e.Objects, s.Files[k])
	}
	return e
}

// addSpan returns spans with sp added: disjoint, sorted, touching spans joined (stamps are
// whole milliseconds, so [a, b] and [b+1ms, c] leave nothing uncovered between them).
func addSpan(spans []Span, sp Span) []Span {
	out := append(slices.Clone(spans), sp)
	slices.SortFunc(out, func(a, b Span) int { return a.From.Compare(b.From) })
	merged := out[:1]
	for _, s := range out[1:] {
		last := &merged[len(merged)-1]
		if last.ToEnd || !s.From.After(last.Until.Add(time.Millisecond)) {
			switch {
			case last.ToEnd:
			case s.ToEnd:
				last.ToEnd, last.Until = true, time.Time{}
			case s.Until.After(last.Until):
				last.Until = s.Until
			}
			continue
		}
		merged = append(merged, s)
	}
	return merged
}

func earliest(a, b time.Time) time.Time {
	switch {
	case a.IsZero():
		return b
	case b.IsZero() || a.Before(b):
		return a
	}
	return b
}

func latest(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// seqGreater compares decimal sequence numbers numerically.
func seqGreater(a, b string) bool {
	a, b = strings.TrimLeft(a, "0"), strings.TrimLeft(b, "0")
	if len(a) != len(b) {
		return len(a) > len(b)
	}
	return a > b
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// Regions returns the regions of the state's streams (from their ARNs), sorted: one for
// any backup ddbtape wrote, none before a stream is recorded.
func (s State) Regions() []string {
	var out []string
	for arn := range s.Streams {
		if r := globaltable.RegionOf(arn); r != "" && !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	slices.Sort(out)
	return out
}
