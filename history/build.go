package history

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/ddbtape/ddbtape/catalog"
	"github.com/ddbtape/ddbtape/ddbjson"
	"github.com/ddbtape/ddbtape/writer"
)

// Version is one state of an item: the base (the item at From) or the result of a change.
type Version struct {
	// Base marks the item as it was at From: snapshot SnapshotID and every change stamped
	// before From.
	Base       bool   `json:"base,omitempty"`
	SnapshotID string `json:"snapshot_id,omitempty"`
	// Time is the change's stamp (DynamoDB's ApproximateCreationDateTime); From for the base.
	Time           time.Time `json:"time"`
	EventName      string    `json:"event_name,omitempty"` // INSERT, MODIFY or REMOVE
	EventID        string    `json:"event_id,omitempty"`
	ShardID        string    `json:"shard_id,omitempty"`
	SequenceNumber string    `json:"sequence_number,omitempty"`
	// UserIdentity is who made the change when the stream says: dynamodb.amazonaws.com for
	// a TTL delete.
	UserIdentity string `json:"user_identity,omitempty"`
	// Item is the item after the change (DynamoDB JSON, canonical); empty when it does not exist.
	Item string `json:"item,omitempty"`
	// Changed is what differs from the version before, by attribute name.
	Changed []Attribute `json:"changed,omitempty"`

	order catalog.Order
}

// Exists reports whether the item exists in this version.
func (v Version) Exists() bool { return v.Item != "" }

// Attribute is one attribute that differs between two versions.
type Attribute struct {
	Name string `json:"name"`
	// Op is "added", "removed" or "changed".
	Op  string          `json:"op"`
	Old json.RawMessage `json:"old,omitempty"` // DynamoDB JSON of the value
	New json.RawMessage `json:"new,omitempty"`
}

// change is a stored change of one key, placed in merge order.
type change struct {
	c     writer.Change
	order catalog.Order
}

// Build is the history of one key from its base (the snapshot's item; "" when the snapshot
// lacks it) and its stored changes (any order, duplicates allowed): the base at from with
// every change stamped before from folded in, then a version per change stamped in
// [from, to], in merge order. Changes stamped before the snapshot's replay start must be
// left out by the caller. It does no I/O.
func Build(base, snapshotID string, changes []change, from, to time.Time) ([]Version, error) {
	cs := slices.Clone(changes)
	sort.SliceStable(cs, func(i, j int) bool { return cs[i].order.Compare(cs[j].order) < 0 })
	cs = slices.CompactFunc(cs, func(a, b change) bool { return a.order == b.order }) // stored twice
	cur, err := canonical(base)
	if err != nil {
		return nil, err
	}
	items := make([]string, len(cs))
	for i, ch := range cs {
		if items[i], err = result(ch.c); err != nil {
			return nil, err
		}
		if ch.c.ApproximateCreationTime.Before(from) {
			cur = items[i]
		}
	}
	out := []Version{{Base: true, SnapshotID: snapshotID, Time: from, Item: cur}}
	for i, ch := range cs {
		c := ch.c
		if c.ApproximateCreationTime.Before(from) || c.ApproximateCreationTime.After(to) {
			continue
		}
		v := Version{Time: c.ApproximateCreationTime, EventName: c.EventName, EventID: c.EventID, ShardID: c.ShardID,
			SequenceNumber: c.SequenceNumber, Item: items[i], order: ch.order}
		if c.UserIdentity != nil {
			v.UserIdentity = *c.UserIdentity
		}
		if v.Changed, err = Diff(out[len(out)-1].Item, v.Item); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// result is the item a change left (canonical), "" for a REMOVE.
func result(c writer.Change) (string, error) {
	switch c.EventName {
	case "REMOVE":
		return "", nil
	case "INSERT", "MODIFY":
		if c.NewImage == nil {
			return "", fmt.Errorf("shard %s sequence %s: change has no new image", c.ShardID, c.SequenceNumber)
		}
		return canonical(*c.NewImage)
	}
	return "", fmt.Errorf("shard %s sequence %s: unknown event name %q", c.ShardID, c.SequenceNumber, c.EventName)
}

func canonical(item string) (string, error) {
	if item == "" {
		return "", nil
	}
	c, err := ddbjson.Canonical(item)
	if err != nil {
		return "", fmt.Errorf("item %s: %w", item, err)
	}
	return c, nil
}

// Diff lists the attributes that differ from item a to item b (DynamoDB JSON; "" for no
// item), sorted by name.
func Diff(a, b string) ([]Attribute, error) {
	av, err := attributes(a)
	if err != nil {
		return nil, err
	}
	bv, err := attributes(b)
	if err != nil {
		return nil, err
	}
	var out []Attribute
	for name, o := range av {
		n, ok := bv[name]
		switch {
		case !ok:
			out = append(out, Attribute{Name: name, Op: "removed", Old: o})
		case string(n) != string(o):
			out = append(out, Attribute{Name: name, Op: "changed", Old: o, New: n})
		}
	}
	for name, n := range bv {
		if _, ok := av[name]; !ok {
			out = append(out, Attribute{Name: name, Op: "added", New: n})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// attributes splits a canonical item into its attributes' values.
func attributes(item string) (map[string]json.RawMessage, error) {
	out := map[string]json.RawMessage{}
	if item == "" {
		return out, nil
	}
	c, err := canonical(item)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(c), &out); err != nil {
		return nil, fmt.Errorf("item %s: %w", item, err)
	}
	return out, nil
}

// String is a version as one line: stamp, what happened, and the event's coordinates.
func (v Version) String() string {
	var b strings.Builder
	b.WriteString(v.Time.UTC().Format(time.RFC3339))
	if v.Base {
		fmt.Fprintf(&b, "  base (snapshot %s and the changes before)", v.SnapshotID)
		if !v.Exists() {
			b.WriteString(": no item")
		}
		return b.String()
	}
	fmt.Fprintf(&b, "  %-6s event %s  shard %s  sequence %s", v.EventName, v.EventID, v.ShardID, v.SequenceNumber)
	if v.UserIdentity != "" {
		fmt.Fprintf(&b, "  by %s", v.UserIdentity)
	}
	return b.String()
}
