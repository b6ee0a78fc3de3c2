package restore

import (
	"fmt"

	"github.com/ddbtape/ddbtape/ddbjson"
	"github.com/ddbtape/ddbtape/replay"
)

// Action is what an existing table needs for one key to equal the state at T.
type Action int

const (
	// Unchanged: the table holds the item as it was at T (or neither has it).
	Unchanged Action = iota
	// Insert: the item existed at T and the table lacks it (verify: missing).
	Insert
	// Update: both hold the item but they differ (verify: different).
	Update
	// Delete: the table holds an item that did not exist at T (verify: extra).
	Delete
)

func (a Action) String() string {
	return [...]string{"unchanged", "insert", "update", "delete"}[a]
}

// Classify compares an entry's item at T with the live one. Items are compared in
// ddbjson.Canonical form, since DynamoDB returns set elements in no fixed order and
// numbers in whatever form they were written.
func Classify(e replay.Entry) (Action, error) {
	switch {
	case e.HasWant && !e.HasHave:
		return Insert, nil
	case !e.HasWant && e.HasHave:
		return Delete, nil
	case !e.HasWant:
		return Unchanged, nil
	case e.Want == e.Have:
		return Unchanged, nil
	}
	w, err := ddbjson.Canonical(e.Want)
	if err != nil {
		return 0, fmt.Errorf("item %s at T: %w", e.Key, err)
	}
	h, err := ddbjson.Canonical(e.Have)
	if err != nil {
		return 0, fmt.Errorf("item %s in the table: %w", e.Key, err)
	}
	if w == h {
		return Unchanged, nil
	}
	return Update, nil
}

// Counts tallies actions.
type Counts struct {
	Unchanged int64 `json:"unchanged"`
	Inserts   int64 `json:"inserts"`
	Updates   int64 `json:"updates"`
	Deletes   int64 `json:"deletes"`
}

// Add counts one action.
func (c *Counts) Add(a Action) {
	switch a {
	case Unchanged:
		c.Unchanged++
	case Insert:
		c.Inserts++
	case Update:
		c.Updates++
	case Delete:
		c.Deletes++
	}
}
