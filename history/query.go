package history

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/ddbtape/ddbtape/catalog"
	"github.com/ddbtape/ddbtape/ddbjson"
	"github.com/ddbtape/ddbtape/progress"
	"github.com/ddbtape/ddbtape/replay"
	"github.com/ddbtape/ddbtape/restore"
)

// ErrBadKey means a key given on the command line is not one of the table's keys.
var ErrBadKey = errors.New("not a key of the table")

// Query asks for one key's history.
type Query struct {
	// Key is the key as DynamoDB JSON; attribute order and number forms do not matter.
	Key string
	// From and To bound the range; a zero From is the start of the oldest restorable
	// window, a zero (or Latest) To the end of the newest.
	From time.Time
	To   catalog.At
	// Hold is how the backup is held against retention while it is read.
	Hold        catalog.PlanOptions
	Parallelism int
	Progress    replay.Counter
}

// Result is one key's history.
type Result struct {
	Table    string    `json:"table"`
	Key      string    `json:"key"`
	From     time.Time `json:"from"`
	To       time.Time `json:"to"`
	Versions []Version `json:"versions"`
}

// Of reads the history of q.Key from the backup of cat, holding what it reads against
// retention. A range outside the restorable windows is an error wrapping
// catalog.ErrNoCoverage; a key that is not the table's, one wrapping ErrBadKey.
func Of(ctx context.Context, cat *catalog.Catalog, r replay.Reader, q Query) (Result, error) {
	l, err := cat.List(ctx)
	if err != nil {
		return Result{}, err
	}
	from, to, err := Range(l, q.From, q.To)
	if err != nil {
		return Result{}, err
	}
	res := Result{Table: cat.Table(), From: from, To: to}
	hold := q.Hold
	hold.Purpose = "history"
	err = cat.PlanHeld(ctx, catalog.At{Time: from}, hold, func(ctx context.Context, p catalog.Plan) error {
		key, err := Key(q.Key, restore.KeyNames(p.Snapshot.Manifest))
		if err != nil {
			return err
		}
		res.Key = key
		keep := func(k string) bool { return k == key }
		l, err := cat.List(ctx)
		if err != nil {
			return err
		}
		hs, err := Read(ctx, p, l, r, Options{Keep: keep, To: to, Parallelism: q.Parallelism, Progress: q.Progress})
		if err != nil {
			return err
		}
		res.Versions = hs[key]
		if res.Versions == nil {
			res.Versions = []Version{{Base: true, SnapshotID: p.Snapshot.ID, Time: from}}
		}
		return nil
	})
	return res, err
}

// Key reads a key given as DynamoDB JSON into its merge key (replay.MergeKey): attribute
// order and number forms do not matter. keyNames are the table's key attributes; a key of
// other attributes is an error wrapping ErrBadKey.
func Key(s string, keyNames []string) (string, error) {
	if _, err := replay.ParseKeys(strings.NewReader(s), keyNames); err != nil {
		return "", fmt.Errorf("key %s: %w: %v", strings.TrimSpace(s), ErrBadKey, strings.TrimPrefix(err.Error(), "line 1: "))
	}
	m, err := ddbjson.ToDynamoDB(strings.TrimSpace(s))
	if err != nil {
		return "", fmt.Errorf("key %s: %w: %v", s, ErrBadKey, err)
	}
	enc, err := ddbjson.FromDynamoDB(m)
	if err != nil {
		return "", fmt.Errorf("key %s: %w: %v", s, ErrBadKey, err)
	}
	return replay.MergeKey(enc)
}

// Range resolves a range against the restorable windows of l: a zero from is the oldest
// window's first second, a Latest to the newest window's end. Either end outside every
// window is an error wrapping catalog.ErrNoCoverage.
func Range(l catalog.Listing, from time.Time, to catalog.At) (time.Time, time.Time, error) {
	ws := catalog.Windows(l)
	if len(ws) == 0 {
		return time.Time{}, time.Time{}, fmt.Errorf("nothing is restorable yet (a complete snapshot and a capture that has caught up are needed): %w", catalog.ErrNoCoverage)
	}
	if from.IsZero() {
		from, _ = ws[0].Seconds()
	}
	end, _ := to.Resolve(ws)
	if end.Before(from) {
		return time.Time{}, time.Time{}, fmt.Errorf("--to %s is before --from %s", end.Format(time.RFC3339), from.Format(time.RFC3339))
	}
	for _, t := range []time.Time{from, end} {
		in := false
		for _, w := range ws {
			in = in || w.Contains(t)
		}
		if !in {
			return time.Time{}, time.Time{}, &catalog.CoverageError{At: t, Reason: "outside the restorable windows", Windows: ws}
		}
	}
	return from, end, nil
}

// WriteText prints a history for people: a header, then a line per version with its
// attribute changes indented below it.
func WriteText(w io.Writer, r Result) error {
	fmt.Fprintf(w, "history of %s in %s, %s to %s\n", r.Key, r.Table, r.From.UTC().Format(time.RFC3339), r.To.UTC().Format(time.RFC3339))
	for _, v := range r.Versions {
		fmt.Fprintln(w, v.String())
		if v.Base && v.Exists() {
			fmt.Fprintf(w, "    item %s\n", v.Item)
		}
		for _, a := range v.Changed {
			switch a.Op {
			case "added":
				fmt.Fprintf(w, "    + %s: %s\n", a.Name, a.New)
			case "removed":
				fmt.Fprintf(w, "    - %s: %s\n", a.Name, a.Old)
			default:
				fmt.Fprintf(w, "    ~ %s: %s -> %s\n", a.Name, a.Old, a.New)
			}
		}
	}
	_, err := fmt.Fprintln(w, progress.Count(len(r.Versions)-1, "change"))
	return err
}

// WriteJSON prints a history as one JSON document.
func WriteJSON(w io.Writer, r Result) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}
