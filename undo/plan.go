// Package undo puts keys of a live table back to their state before some writes: one
// stored change (an event), every change stamped in an interval, or what a restore or
// another undo wrote (its restore log). It plans first, from the backup's histories
// (package history) and the table as it is now, and writes only what it was asked to,
// each write guarded (restore.WriteGuarded): a key written again after the undone writes
// is a conflict, listed and left alone, unless the caller overwrites later writes.
package undo

import (
	"fmt"
	"io"
	"sort"
	"time"

	"github.com/ddbtape/ddbtape/history"
	"github.com/ddbtape/ddbtape/progress"
	"github.com/ddbtape/ddbtape/restore"
)

// Step is what undo does to one key.
type Step struct {
	Key string `json:"key"`
	// Before is the item to put back ("" to delete the key); After is what the undone
	// writes left ("" for no item); Live is what the table holds now ("" for none).
	Before string `json:"before,omitempty"`
	After  string `json:"after,omitempty"`
	Live   string `json:"live,omitempty"`
	// Action is what the write does: Insert, Update, Delete, or Unchanged when the table
	// holds Before already.
	Action restore.Action `json:"-"`
	// Conflict says why the key is left alone ("" when it is not).
	Conflict string `json:"conflict,omitempty"`
}

// Plan is every key's step, sorted by key.
type Plan struct {
	Steps []Step
}

// Counts tallies the plan's steps: conflicts apart.
func (p Plan) Counts() (c restore.Counts, conflicts int) {
	for _, s := range p.Steps {
		if s.Conflict != "" {
			conflicts++
			continue
		}
		c.Add(s.Action)
	}
	return c, conflicts
}

// Changes are the writes of the plan: every step without a conflict that changes the
// table, each expecting the item the table held when it was read.
func (p Plan) Changes() []restore.Change {
	var out []restore.Change
	for _, s := range p.Steps {
		if s.Conflict == "" && s.Action != restore.Unchanged {
			out = append(out, restore.Change{Key: s.Key, Item: s.Before, Expect: s.Live})
		}
	}
	return out
}

// later is a write made after the undone ones, for a conflict's reason.
type later struct {
	at      time.Time
	eventID string
}

// decide is the step of one key: back to before, unless the key was written after the
// undone writes (a later stored change, or a table that holds something else than they
// left) and overwrite is false. Items are compared in canonical form. It does no I/O.
func decide(key, before, after, live string, next *later, overwrite bool) (Step, error) {
	s := Step{Key: key, Before: before, After: after, Live: live}
	same, err := sameItem(live, after)
	if err != nil {
		return s, err
	}
	switch {
	case overwrite:
	case next != nil:
		s.Conflict = fmt.Sprintf("written again after: %s at %s", next.eventID, next.at.UTC().Format(time.RFC3339))
	case !same:
		s.Conflict = "the table holds another item than the undone writes left (written after them)"
	}
	back, err := sameItem(live, before)
	if err != nil {
		return s, err
	}
	switch {
	case back:
		s.Action = restore.Unchanged
	case before == "":
		s.Action = restore.Delete
	case live == "":
		s.Action = restore.Insert
	default:
		s.Action = restore.Update
	}
	return s, nil
}

// sameItem compares two items in canonical form ("" for none).
func sameItem(a, b string) (bool, error) {
	if a == "" || b == "" {
		return a == b, nil
	}
	d, err := history.Diff(a, b)
	return len(d) == 0, err
}

// IntervalSteps is the step of a key whose history (history.Read from --from) holds the
// undone writes: every version stamped in [from, to]. Before is the base; After the last
// undone version; a version after to is a later write.
func intervalStep(key string, vs []history.Version, to time.Time, live string, overwrite bool) (Step, bool, error) {
	last := -1
	for i, v := range vs {
		if !v.Base && !v.Time.After(to) {
			last = i
		}
	}
	if last < 0 {
		return Step{}, false, nil // not changed in the interval
	}
	var next *later
	if last+1 < len(vs) {
		next = &later{at: vs[last+1].Time, eventID: "event " + vs[last+1].EventID}
	}
	s, err := decide(key, vs[0].Item, vs[last].Item, live, next, overwrite)
	return s, true, err
}

// eventStep is the step of the key of event id, whose history holds it.
func eventStep(key string, vs []history.Version, id string, live string, overwrite bool) (Step, error) {
	for i, v := range vs {
		if v.Base || v.EventID != id {
			continue
		}
		var next *later
		if i+1 < len(vs) {
			next = &later{at: vs[i+1].Time, eventID: "event " + vs[i+1].EventID}
		}
		return decide(key, vs[i-1].Item, v.Item, live, next, overwrite)
	}
	return Step{}, fmt.Errorf("event %s: not in the history of key %s", id, key)
}

func sortSteps(ss []Step) {
	sort.Slice(ss, func(i, j int) bool { return ss[i].Key < ss[j].Key })
}

func sortConflicts(cs []restore.Conflict) {
	sort.Slice(cs, func(i, j int) bool { return cs[i].Key < cs[j].Key })
}

// WriteText prints the plan: a line per key that would change, as restore's --diff prints
// them ("+ KEY" put back, "~ KEY" changed back, "- KEY" deleted), one per conflict
// ("! KEY: why"), then the counts.
func (p Plan) WriteText(w io.Writer) error {
	for _, s := range p.Steps {
		var err error
		switch {
		case s.Conflict != "":
			_, err = fmt.Fprintf(w, "! %s: %s\n", s.Key, s.Conflict)
		case s.Action != restore.Unchanged:
			_, err = fmt.Fprintf(w, "%s %s\n", map[restore.Action]string{restore.Insert: "+", restore.Update: "~", restore.Delete: "-"}[s.Action], s.Key)
		}
		if err != nil {
			return err
		}
	}
	c, conflicts := p.Counts()
	_, err := fmt.Fprintf(w, "plan: %s (%s put back, %s changed back), %s, %s unchanged, %s\n",
		progress.Count(c.Inserts+c.Updates, "put"), progress.Number(c.Inserts), progress.Number(c.Updates),
		progress.Count(c.Deletes, "delete"), progress.Number(c.Unchanged), progress.Count(conflicts, "conflict"))
	return err
}
