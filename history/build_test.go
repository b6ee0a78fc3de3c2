package history

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/ddbtape/ddbtape/catalog"
	"github.com/ddbtape/ddbtape/ledger"
	"github.com/ddbtape/ddbtape/writer"
)

var t0 = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

func item(v int) string { return fmt.Sprintf(`{"pk":{"S":"a"},"v":{"N":"%d"}}`, v) }

func ch(seq int, sec int, event string, img string) change {
	c := writer.Change{ShardID: "s1", SequenceNumber: fmt.Sprint(seq), EventID: fmt.Sprint("e", seq), EventName: event,
		ApproximateCreationTime: t0.Add(time.Duration(sec) * time.Second), Keys: `{"pk":{"S":"a"}}`}
	if img != "" {
		c.NewImage = &img
	}
	return change{c: c, order: catalog.NewLineage(ledger.State{}).Order(&c)}
}

func TestBuild_FoldsEarlierChangesIntoTheBaseAndListsTheRestInMergeOrder(t *testing.T) {
	ttl := "dynamodb.amazonaws.com"
	rm := ch(14, 40, "REMOVE", "")
	rm.c.UserIdentity = &ttl
	changes := []change{
		ch(12, 20, "MODIFY", `{"v":{"N":"2.0"},"pk":{"S":"a"},"x":{"S":"new"}}`), // attribute order and number form do not matter
		ch(10, 5, "MODIFY", item(1)),  // before from: folded into the base
		ch(13, 20, "MODIFY", item(3)), // same second as 12, after it in sequence order
		rm,                            // a TTL delete
		ch(12, 20, "MODIFY", `{"v":{"N":"2.0"},"pk":{"S":"a"},"x":{"S":"new"}}`), // stored twice
		ch(15, 90, "INSERT", item(9)),                                            // after to
	}
	vs, err := Build(item(0), "snap-1", changes, t0.Add(10*time.Second), t0.Add(60*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	type want struct {
		base    bool
		event   string
		item    string
		changed string
	}
	wants := []want{
		{base: true, item: item(1)},
		{event: "e12", item: `{"pk":{"S":"a"},"v":{"N":"2"},"x":{"S":"new"}}`, changed: `[~ v {"N":"1"} {"N":"2"}][+ x  {"S":"new"}]`},
		{event: "e13", item: item(3), changed: `[~ v {"N":"2"} {"N":"3"}][- x {"S":"new"} ]`},
		{event: "e14", changed: `[- pk {"S":"a"} ][- v {"N":"3"} ]`},
	}
	if len(vs) != len(wants) {
		t.Fatalf("%d versions, want %d: %+v", len(vs), len(wants), vs)
	}
	for i, w := range wants {
		v := vs[i]
		var changed string
		for _, a := range v.Changed {
			changed += fmt.Sprintf("[%s %s %s %s]", map[string]string{"added": "+", "removed": "-", "changed": "~"}[a.Op], a.Name, a.Old, a.New)
		}
		if v.Base != w.base || v.EventID != w.event || v.Item != w.item || changed != w.changed {
			t.Errorf("version %d: base %v event %s item %s changed %s\nwant base %v event %s item %s changed %s", i, v.Base, v.EventID, v.Item, changed, w.base, w.event, w.item, w.changed)
		}
	}
	if vs[3].UserIdentity != ttl || vs[0].SnapshotID != "snap-1" || !vs[0].Time.Equal(t0.Add(10*time.Second)) {
		t.Errorf("versions %+v", vs)
	}
	if _, err := json.Marshal(vs); err != nil {
		t.Fatal(err)
	}
}

func TestBuild_AnItemThatDidNotExistHasAnEmptyBase(t *testing.T) {
	vs, err := Build("", "snap-1", []change{ch(1, 20, "INSERT", item(1))}, t0, t0.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) != 2 || vs[0].Exists() || !vs[1].Exists() || len(vs[1].Changed) != 2 {
		t.Errorf("versions %+v", vs)
	}
}

func TestKey_AttributeOrderAndNumberFormsDoNotMatter(t *testing.T) {
	names := []string{"pk", "n"}
	a, err := Key(`{"pk":{"S":"a"},"n":{"N":"1"}}`, names)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{`{"n":{"N":"1.0"},"pk":{"S":"a"}}`, ` {"n": {"N": "1e0"}, "pk": {"S": "a"}} `, `{"pk":{"S":"a"},"n":{"N":"01.000"}}`} {
		if b, err := Key(k, names); err != nil || b != a {
			t.Errorf("Key(%s) = %s, %v; want %s", k, b, err, a)
		}
	}
	for _, k := range []string{`{"pk":{"S":"a"}}`, `{"pk":{"S":"a"},"n":{"N":"1"},"x":{"S":"y"}}`, `not json`, ``} {
		if _, err := Key(k, names); !errors.Is(err, ErrBadKey) {
			t.Errorf("Key(%q): %v, want ErrBadKey", k, err)
		}
	}
}
