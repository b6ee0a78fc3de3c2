package undo

import (
	"strings"
	"testing"
	"time"

	"github.com/ddbtape/ddbtape/history"
	"github.com/ddbtape/ddbtape/restore"
)

var t0 = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

func it(v string) string { return `{"pk":{"S":"a"},"v":{"S":"` + v + `"}}` }

func ver(sec int, id, item string) history.Version {
	return history.Version{Time: t0.Add(time.Duration(sec) * time.Second), EventID: id, Item: item}
}

func TestIntervalStep_BackToBeforeFromUnlessWrittenAfter(t *testing.T) {
	to := t0.Add(60 * time.Second)
	base := history.Version{Base: true, Time: t0, Item: it("good")}
	tests := []struct {
		name      string
		vs        []history.Version
		live      string
		overwrite bool
		changed   bool
		action    restore.Action
		conflict  string
		before    string
	}{
		{"overwritten", []history.Version{base, ver(10, "e1", it("bad"))}, it("bad"), false, true, restore.Update, "", it("good")},
		{"deleted", []history.Version{base, ver(10, "e1", "")}, "", false, true, restore.Insert, "", it("good")},
		{"inserted", []history.Version{{Base: true, Time: t0}, ver(10, "e1", it("bad"))}, it("bad"), false, true, restore.Delete, "", ""},
		{"twice in the interval", []history.Version{base, ver(10, "e1", it("bad")), ver(50, "e2", it("worse"))}, it("worse"), false, true, restore.Update, "", it("good")},
		{"back already", []history.Version{base, ver(10, "e1", it("bad")), ver(20, "e2", it("good"))}, it("good"), false, true, restore.Unchanged, "", it("good")},
		{"written after, in the backup", []history.Version{base, ver(10, "e1", it("bad")), ver(90, "e9", it("app"))}, it("app"), false, true, restore.Update, "written again after: event e9 at 2026-03-01T10:01:30Z", it("good")},
		{"written after, not captured yet", []history.Version{base, ver(10, "e1", it("bad"))}, it("app"), false, true, restore.Update, "the table holds another item", it("good")},
		{"written after, overwritten", []history.Version{base, ver(10, "e1", it("bad")), ver(90, "e9", it("app"))}, it("app"), true, true, restore.Update, "", it("good")},
		{"not changed in the interval", []history.Version{base, ver(90, "e9", it("app"))}, it("app"), false, false, 0, "", ""},
		{"number forms and attribute order", []history.Version{base, ver(10, "e1", `{"v":{"N":"1.0"},"pk":{"S":"a"}}`)}, `{"pk":{"S":"a"},"v":{"N":"1"}}`, false, true, restore.Update, "", it("good")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, changed, err := intervalStep("k", tc.vs, to, tc.live, tc.overwrite)
			if err != nil {
				t.Fatal(err)
			}
			if changed != tc.changed {
				t.Fatalf("changed %v, want %v", changed, tc.changed)
			}
			if !changed {
				return
			}
			if s.Action != tc.action || !strings.HasPrefix(s.Conflict, tc.conflict) || (tc.conflict == "") != (s.Conflict == "") || s.Before != tc.before {
				t.Errorf("step %+v (action %v), want action %v conflict %q before %s", s, s.Action, tc.action, tc.conflict, tc.before)
			}
		})
	}
}

func TestEventStep_BackToJustBeforeTheEventInMergeOrder(t *testing.T) {
	// Three changes in the same second: the event undone is the second.
	vs := []history.Version{{Base: true, Time: t0, Item: it("v0")}, ver(7, "e1", it("v1")), ver(7, "e2", ""), ver(7, "e3", it("v3"))}
	s, err := eventStep("k", vs, "e2", "", false)
	if err != nil {
		t.Fatal(err)
	}
	if s.Conflict == "" || !strings.Contains(s.Conflict, "event e3") {
		t.Errorf("a change after the event in the same second: %+v", s)
	}
	s, err = eventStep("k", vs[:3], "e2", "", false)
	if err != nil || s.Conflict != "" || s.Before != it("v1") || s.Action != restore.Insert {
		t.Errorf("undo of e2: %+v %v", s, err)
	}
	if _, err := eventStep("k", vs, "nope", "", false); err == nil {
		t.Error("an event not in the history: no error")
	}
}

func TestPlan_ChangesExpectTheItemRead(t *testing.T) {
	p := Plan{Steps: []Step{
		{Key: "a", Before: it("1"), Live: it("2"), Action: restore.Update},
		{Key: "b", Before: it("1"), Live: it("2"), Action: restore.Update, Conflict: "written again after"},
		{Key: "c", Before: it("1"), Live: it("1"), Action: restore.Unchanged},
		{Key: "d", Live: it("2"), Action: restore.Delete},
	}}
	cs := p.Changes()
	if len(cs) != 2 || cs[0] != (restore.Change{Key: "a", Item: it("1"), Expect: it("2")}) || cs[1] != (restore.Change{Key: "d", Expect: it("2")}) {
		t.Errorf("changes %+v", cs)
	}
	c, conflicts := p.Counts()
	if c.Updates != 1 || c.Deletes != 1 || c.Unchanged != 1 || conflicts != 1 {
		t.Errorf("counts %+v, %d conflicts", c, conflicts)
	}
}
