package undo

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"golang.org/x/sync/errgroup"

	"github.com/ddbtape/ddbtape/catalog"
	"github.com/ddbtape/ddbtape/ddbjson"
	"github.com/ddbtape/ddbtape/history"
	"github.com/ddbtape/ddbtape/replay"
	"github.com/ddbtape/ddbtape/restore"
	"github.com/ddbtape/ddbtape/storage"
)

// GetAPI is the DynamoDB call that reads the table's current items.
type GetAPI interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
}

// API is the part of the DynamoDB client undo uses: reads, then guarded writes.
type API interface {
	GetAPI
	restore.GuardAPI
}

// Options say how undo reads the backup and the table.
type Options struct {
	Reader replay.Reader
	// Hold is how the backup is held against retention while it is read.
	Hold        catalog.PlanOptions
	Parallelism int
	// Overwrite puts keys back even when they were written after the undone writes.
	Overwrite bool
	Progress  replay.Counter
}

// Event plans the undo of the stored change whose event id is id: its key goes back to its
// state just before it, in merge order. It reads the whole restorable span of the backup
// to find the event, then the key's history from the event's stamp on.
func Event(ctx context.Context, cat *catalog.Catalog, api GetAPI, table, id string, o Options) (Plan, error) {
	l, err := cat.List(ctx)
	if err != nil {
		return Plan{}, err
	}
	from, end, err := history.Range(l, time.Time{}, catalog.At{Latest: true})
	if err != nil {
		return Plan{}, err
	}
	c, key, err := history.FindEvent(ctx, l, o.Reader, id, from, end, o.Parallelism)
	if err != nil {
		return Plan{}, err
	}
	if stamp := c.ApproximateCreationTime; stamp.Before(from) || stamp.After(end) {
		// Before a window's start the item before the event is not known: the snapshot
		// that opens the window may hold the event already.
		return Plan{}, fmt.Errorf("event %s is stamped %s, outside the restorable windows (%s to %s): %w",
			id, stamp.UTC().Format(time.RFC3339), from.Format(time.RFC3339), end.Format(time.RFC3339), catalog.ErrNoCoverage)
	}
	hs, err := histories(ctx, cat, c.ApproximateCreationTime, end, func(k string) bool { return k == key }, o)
	if err != nil {
		return Plan{}, err
	}
	live, err := readLive(ctx, api, table, []string{key})
	if err != nil {
		return Plan{}, err
	}
	s, err := eventStep(key, hs[key], c.EventID, live[key], o.Overwrite)
	if err != nil {
		return Plan{}, err
	}
	return Plan{Steps: []Step{s}}, nil
}

// Interval plans the undo of every change stamped in [from, to]: each key they changed
// goes back to its state before from.
func Interval(ctx context.Context, cat *catalog.Catalog, api GetAPI, table string, from, to time.Time, o Options) (Plan, error) {
	l, err := cat.List(ctx)
	if err != nil {
		return Plan{}, err
	}
	if _, _, err := history.Range(l, from, catalog.At{Time: to}); err != nil {
		return Plan{}, err
	}
	_, end, err := history.Range(l, from, catalog.At{Latest: true})
	if err != nil {
		return Plan{}, err
	}
	keys, err := history.Changed(ctx, l, o.Reader, from, to, o.Parallelism)
	if err != nil {
		return Plan{}, err
	}
	if len(keys) == 0 {
		return Plan{}, nil
	}
	hs, err := histories(ctx, cat, from, end, func(k string) bool { return keys[k] }, o)
	if err != nil {
		return Plan{}, err
	}
	list := make([]string, 0, len(keys))
	for k := range keys {
		list = append(list, k)
	}
	live, err := readLive(ctx, api, table, list)
	if err != nil {
		return Plan{}, err
	}
	var p Plan
	for _, k := range list {
		s, ok, err := intervalStep(k, hs[k], to, live[k], o.Overwrite)
		if err != nil {
			return Plan{}, err
		}
		if ok {
			p.Steps = append(p.Steps, s)
		}
	}
	sortSteps(p.Steps)
	return p, nil
}

// histories reads the histories of the keys keep selects from `from` to end, holding the
// backup against retention.
func histories(ctx context.Context, cat *catalog.Catalog, from, end time.Time, keep func(string) bool, o Options) (map[string][]history.Version, error) {
	var hs map[string][]history.Version
	hold := o.Hold
	hold.Purpose = "undo"
	err := cat.PlanHeld(ctx, catalog.At{Time: from}, hold, func(ctx context.Context, p catalog.Plan) error {
		l, err := cat.List(ctx)
		if err != nil {
			return err
		}
		hs, err = history.Read(ctx, p, l, o.Reader, history.Options{Keep: keep, To: end, Parallelism: o.Parallelism, Progress: o.Progress})
		return err
	})
	return hs, err
}

// readLive reads the current item of every key (merge keys), strongly consistent: key ->
// canonical item, absent keys left out.
func readLive(ctx context.Context, api GetAPI, table string, keys []string) (map[string]string, error) {
	var mu sync.Mutex
	out := map[string]string{}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for _, k := range keys {
		g.Go(func() error {
			key, err := ddbjson.ToDynamoDB(k)
			if err != nil {
				return fmt.Errorf("key %s: %w", k, err)
			}
			res, err := api.GetItem(gctx, &dynamodb.GetItemInput{TableName: aws.String(table), Key: key, ConsistentRead: aws.Bool(true)})
			if err != nil {
				return fmt.Errorf("read %s from %s: %w", k, table, err)
			}
			if len(res.Item) == 0 {
				return nil
			}
			item, err := ddbjson.FromDynamoDB(res.Item)
			if err != nil {
				return fmt.Errorf("item %s of %s: %w", k, table, err)
			}
			mu.Lock()
			out[k] = item
			mu.Unlock()
			return nil
		})
	}
	return out, g.Wait()
}

// Apply writes the plan's changes into table, each guarded: one that meets a write made
// since the plan read the table becomes a conflict too. The result's conflicts are the
// plan's and the writes', sorted by key.
func Apply(ctx context.Context, api restore.GuardAPI, table string, p Plan, o restore.GuardOptions) (restore.GuardStats, error) {
	changes := p.Changes()
	st, err := restore.WriteGuarded(ctx, api, table, func(yield func(restore.Change) error) error {
		for _, c := range changes {
			if err := yield(c); err != nil {
				return err
			}
		}
		return nil
	}, o)
	for _, s := range p.Steps {
		if s.Conflict != "" {
			st.Conflicts = append(st.Conflicts, restore.Conflict{Key: s.Key, Reason: s.Conflict})
		}
	}
	sortConflicts(st.Conflicts)
	return st, err
}

// Restore plans the undo of what restore log id of table recorded: every key it wrote goes
// back to what the table held before, unless the table holds something else than was
// written (a later write: a conflict).
func Restore(ctx context.Context, b storage.Bucket, api GetAPI, table, id string, overwrite bool) (Plan, restore.LogHeader, error) {
	var written []restore.Change
	h, err := restore.ReadLog(ctx, b, table, id, func(c restore.Change) error {
		written = append(written, c)
		return nil
	})
	if err != nil {
		return Plan{}, h, err
	}
	keys := make([]string, len(written))
	for i, c := range written {
		keys[i] = c.Key
	}
	live, err := readLive(ctx, api, h.Table, keys)
	if err != nil {
		return Plan{}, h, err
	}
	var p Plan
	for _, c := range written {
		s, err := decide(c.Key, c.Expect, c.Item, live[c.Key], nil, overwrite)
		if err != nil {
			return Plan{}, h, err
		}
		p.Steps = append(p.Steps, s)
	}
	sortSteps(p.Steps)
	return p, h, nil
}
