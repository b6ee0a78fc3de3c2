package replay

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ddbtape/ddbtape/catalog"
	"github.com/ddbtape/ddbtape/ddbjson"
	"github.com/ddbtape/ddbtape/writer"
)

// ErrNoNewImage means a stored change carries no new image, so the item it wrote cannot be
// rebuilt: the stream's view type was KEYS_ONLY or OLD_IMAGE. Capture refuses those; such a
// segment was not written by it.
var ErrNoNewImage = errors.New("change has no new image (the stream view type must be NEW_IMAGE or NEW_AND_OLD_IMAGES)")

// version is one candidate state of an item: the snapshot's copy or a change's result.
type version struct {
	change  bool // false: from the snapshot, which every change supersedes
	order   catalog.Order
	deleted bool
	item    string // DynamoDB JSON; empty when deleted
}

// window is the replay interval [from, at] of a plan, in stamp time.
type window struct {
	from, at time.Time
	lineage  catalog.Lineage
}

// changeVersion turns a change into a version; ok is false when its stamp is outside
// [from, at] (see the package doc for why older changes are left out).
func (w window) changeVersion(c *writer.Change) (v version, ok bool, err error) {
	if c.ApproximateCreationTime.Before(w.from) || c.ApproximateCreationTime.After(w.at) {
		return version{}, false, nil
	}
	v = version{change: true, order: w.lineage.Order(c)}
	switch c.EventName {
	case "REMOVE":
		v.deleted = true
	case "INSERT", "MODIFY":
		if c.NewImage == nil {
			return version{}, false, fmt.Errorf("shard %s sequence %s: %w", c.ShardID, c.SequenceNumber, ErrNoNewImage)
		}
		v.item = *c.NewImage
	default:
		return version{}, false, fmt.Errorf("shard %s sequence %s: unknown event name %q", c.ShardID, c.SequenceNumber, c.EventName)
	}
	return v, true, nil
}

// mergeKey is the identity of an item in the merge: its key attributes as DynamoDB JSON.
// The encoders already sort names and keep strings and binary exact; a number key is
// normalised so that "1.0" from one source and "1" from another meet.
func mergeKey(keys string) (string, error) {
	if !strings.Contains(keys, `"N":`) {
		return keys, nil
	}
	k, err := ddbjson.Canonical(keys)
	if err != nil {
		return "", fmt.Errorf("key %s: %w", keys, err)
	}
	return k, nil
}

// MergeKey is the identity of an item in the merge (Entry.Key): its key attributes as
// DynamoDB JSON, numbers normalised. Callers matching changes to entries use it.
func MergeKey(keys string) (string, error) { return mergeKey(keys) }
