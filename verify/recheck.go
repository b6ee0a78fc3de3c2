package verify

import (
	"crypto/sha256"
	"fmt"
	"sort"
	"time"

	"github.com/ddbtape/ddbtape/ddbjson"
	"github.com/ddbtape/ddbtape/replay"
	"github.com/ddbtape/ddbtape/writer"
)

// Kinds of difference between the backup at M and the table.
const (
	Missing   = "missing"   // the backup holds the item, the table does not
	Extra     = "extra"     // the table holds an item the backup does not
	Different = "different" // both hold it, with other attributes
)

// itemState is an item as the Scan read it: absent, or the digest of its canonical form,
// so that a difference costs a few dozen bytes whatever the item's size.
type itemState struct {
	present bool
	sum     [sha256.Size]byte
}

func stateOf(item string, present bool) (itemState, error) {
	if !present {
		return itemState{}, nil
	}
	c, err := ddbjson.Canonical(item)
	if err != nil {
		return itemState{}, err
	}
	return itemState{present: true, sum: sha256.Sum256([]byte(c))}, nil
}

type difference struct {
	kind      string
	live      itemState
	explained bool
}

// Differences are the keys that differ between the backup at a moment M and the table,
// each with the item the Scan read, until later changes explain them (see the package
// doc for the rule). It holds at most a bounded number of keys.
type Differences struct {
	at    time.Time
	limit int
	keys  map[string]*difference
}

// NewDifferences holds the differences from the backup at at, at most limit of them.
func NewDifferences(at time.Time, limit int) *Differences {
	return &Differences{at: at, limit: limit, keys: map[string]*difference{}}
}

// ErrTooManyDifferences means more keys differ than can be re-checked.
var ErrTooManyDifferences = fmt.Errorf("too many items differ to re-check them")

// Add records that key (a merge key, replay.Entry.Key) differs as kind, the table holding
// have (when hasHave). It returns ErrTooManyDifferences (wrapped) past the limit.
func (d *Differences) Add(key, kind, have string, hasHave bool) error {
	if len(d.keys) >= d.limit {
		return fmt.Errorf("%w: more than %d", ErrTooManyDifferences, d.limit)
	}
	st, err := stateOf(have, hasHave)
	if err != nil {
		return fmt.Errorf("item %s in the table: %w", key, err)
	}
	d.keys[key] = &difference{kind: kind, live: st}
	return nil
}

// Len is the number of differing keys.
func (d *Differences) Len() int { return len(d.keys) }

// Explain looks at one of the backup's changes: stamped after M, to a differing key, and
// leaving the item as the Scan read it, it explains that key's difference. Other changes
// are ignored.
func (d *Differences) Explain(c *writer.Change) error {
	if !c.ApproximateCreationTime.After(d.at) {
		return nil
	}
	key, err := replay.MergeKey(c.Keys)
	if err != nil {
		return err
	}
	diff := d.keys[key]
	if diff == nil || diff.explained {
		return nil
	}
	var after itemState
	switch c.EventName {
	case "REMOVE":
	case "INSERT", "MODIFY":
		if c.NewImage == nil {
			return nil // no image: it cannot show what the item became
		}
		if after, err = stateOf(*c.NewImage, true); err != nil {
			return fmt.Errorf("shard %s sequence %s: %w", c.ShardID, c.SequenceNumber, err)
		}
	default:
		return nil
	}
	if after == diff.live {
		diff.explained = true
	}
	return nil
}

// Mismatch is a key that differs with no later change explaining it.
type Mismatch struct {
	Key  string `json:"key"`
	Kind string `json:"kind"`
}

// Result counts the explained differences and returns the others, sorted by key.
func (d *Differences) Result() (expected int64, mismatches []Mismatch) {
	for k, diff := range d.keys {
		if diff.explained {
			expected++
			continue
		}
		mismatches = append(mismatches, Mismatch{Key: k, Kind: diff.kind})
	}
	sort.Slice(mismatches, func(i, j int) bool { return mismatches[i].Key < mismatches[j].Key })
	return expected, mismatches
}
