package restore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"golang.org/x/sync/errgroup"

	"github.com/ddbtape/ddbtape/ddbjson"
	"github.com/ddbtape/ddbtape/replay"
	"github.com/ddbtape/ddbtape/retry"
)

// Change is one write into a live table, made only where the table still holds what the
// writer read: put Item (DynamoDB JSON), or delete Key when Item is empty, on condition that
// the table holds Expect (empty: that it holds no item of Key).
type Change struct {
	Key    string `json:"key"`
	Item   string `json:"item,omitempty"`
	Expect string `json:"expect,omitempty"`
}

// Delete reports whether the change deletes its key.
func (c Change) Delete() bool { return c.Item == "" }

// Conflict is a change a guarded write left unwritten, and why.
type Conflict struct {
	Key    string `json:"key"`
	Reason string `json:"reason"`
}

// The reasons of conflicts.
const (
	// ConflictChanged: the item changed after it was read; the later write is kept.
	ConflictChanged = "changed after it was read"
	// ConflictTooLarge: the item is too large for a condition expression, so it cannot be
	// written without risking a later write; restore that key with --unguarded once the
	// table is quiet.
	ConflictTooLarge = "too large for a condition (more than 100 attributes, or 4 KB of expression): restore it with --keys and --unguarded once the table is quiet"
)

// GuardAPI is the part of the DynamoDB client guarded writes use.
type GuardAPI interface {
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
}

// GuardOptions tune WriteGuarded.
type GuardOptions struct {
	// KeyNames are the table's key attributes, partition key first.
	KeyNames []string
	// Workers is how many writes are in flight; zero: 8.
	Workers int
	// MaxWCU caps the write rate as LoadOptions.MaxWCU does; zero: no cap.
	MaxWCU float64
	// RetryBound is how long one write is retried on throttling or 5xx; zero: two minutes.
	RetryBound time.Duration
	// Progress counts changes handled; nil: none.
	Progress replay.Counter
	// Written, when set, is told every change that reached the table (from several
	// goroutines, one at a time): what a restore log records.
	Written func(Change)
}

// GuardStats says what a guarded write did.
type GuardStats struct {
	Puts      int64      `json:"puts"`
	Deletes   int64      `json:"deletes"`
	Conflicts []Conflict `json:"conflicts"`
}

// WriteGuarded writes every change each yields into table, in parallel, each guarded so
// that it goes through only where the table still holds the change's Expect (Guard): an
// item read as absent is put only if the key has none; one read as present is updated
// attribute by attribute (what the item read had is compared, what the new item adds must
// be absent) or deleted only if every attribute read is still as read. A write whose
// condition fails is a conflict, and the table keeps the later write. An attribute added
// after the read cannot be named in a condition: an update leaves it in place, and seeing
// it in the item the write replaced, sets the attributes it named back as they were read
// (guarded the same way); a delete that took it puts the item back where the key is still
// absent. Either way the key is a conflict. Conflicts are sorted by key.
func WriteGuarded(ctx context.Context, api GuardAPI, table string, each func(yield func(Change) error) error, o GuardOptions) (GuardStats, error) {
	if o.Workers <= 0 {
		o.Workers = 8
	}
	if o.RetryBound <= 0 {
		o.RetryBound = 2 * time.Minute
	}
	w := &guardWriter{api: api, table: table, o: o, limit: retry.NewLimiter(o.MaxWCU, 0)}
	g, gctx := errgroup.WithContext(ctx)
	ch := make(chan Change, o.Workers)
	for range o.Workers {
		g.Go(func() error {
			for c := range ch {
				if err := w.write(gctx, c); err != nil {
					return err
				}
				if o.Progress != nil {
					o.Progress.Add(1, int64(len(c.Item)))
				}
			}
			return nil
		})
	}
	err := each(func(c Change) error {
		select {
		case ch <- c:
			return nil
		case <-gctx.Done():
			return gctx.Err()
		}
	})
	close(ch)
	if werr := g.Wait(); werr != nil {
		err = werr
	}
	st := w.stats()
	if err != nil {
		return st, fmt.Errorf("guarded write to %s: %w (%d puts and %d deletes written; run it again: it writes only what still differs)", table, err, st.Puts, st.Deletes)
	}
	return st, nil
}

type guardWriter struct {
	api   GuardAPI
	table string
	o     GuardOptions
	limit *retry.Limiter

	mu        sync.Mutex
	puts      int64
	deletes   int64
	conflicts []Conflict
}

func (w *guardWriter) stats() GuardStats {
	w.mu.Lock()
	defer w.mu.Unlock()
	cs := slices.Clone(w.conflicts)
	sort.Slice(cs, func(i, j int) bool { return cs[i].Key < cs[j].Key })
	return GuardStats{Puts: w.puts, Deletes: w.deletes, Conflicts: cs}
}

func (w *guardWriter) conflict(key, reason string) {
	w.mu.Lock()
	w.conflicts = append(w.conflicts, Conflict{Key: key, Reason: reason})
	w.mu.Unlock()
}

func (w *guardWriter) done(c Change) {
	w.mu.Lock()
	if c.Delete() {
		w.deletes++
	} else {
		w.puts++
	}
	if w.o.Written != nil {
		w.o.Written(c)
	}
	w.mu.Unlock()
}

// write makes one change, guarded.
func (w *guardWriter) write(ctx context.Context, c Change) error {
	e, err := Guard(c.Key, c.Item, c.Expect, w.o.KeyNames)
	if errors.Is(err, errTooLarge) {
		w.conflict(c.Key, ConflictTooLarge)
		return nil
	}
	if err != nil {
		return err
	}
	if c.Expect != "" && !c.Delete() && e.Set == "" && e.Remove == "" {
		w.done(c) // the item is the one expected already
		return nil
	}
	if err := w.limit.Take(ctx, float64(max(1, (len(c.Item)+1023)/1024))); err != nil {
		return err
	}
	old, err := w.send(ctx, c, e)
	var failed *types.ConditionalCheckFailedException
	switch {
	case errors.As(err, &failed):
		w.conflict(c.Key, ConflictChanged)
		return nil
	case err != nil:
		return err
	}
	if c.Expect == "" {
		w.done(c) // the key had no item: nothing was there to overwrite
		return nil
	}
	same, err := sameItem(old, c.Expect)
	if err != nil {
		return err
	}
	if same {
		w.done(c)
		return nil
	}
	// An attribute nobody could name was added after the read. An update left it in place;
	// a delete took it with the item, which goes back where the key is still absent.
	back := Change{Key: c.Key, Item: c.Expect, Expect: c.Item}
	if c.Delete() {
		back = Change{Key: c.Key, Item: old}
	}
	if e, err = Guard(back.Key, back.Item, back.Expect, w.o.KeyNames); err == nil {
		_, err = w.send(ctx, back, e)
	}
	if err != nil && !errors.As(err, &failed) && !errors.Is(err, errTooLarge) {
		return err
	}
	w.conflict(c.Key, ConflictChanged)
	return nil
}

// send makes the guarded call (PutItem, UpdateItem or DeleteItem) and returns the item it
// replaced ("" for none).
func (w *guardWriter) send(ctx context.Context, c Change, e Expr) (string, error) {
	key, err := ddbjson.ToDynamoDB(c.Key)
	if err != nil {
		return "", fmt.Errorf("key %s: %w", c.Key, err)
	}
	var item map[string]types.AttributeValue
	if c.Expect == "" {
		if item, err = ddbjson.ToDynamoDB(c.Item); err != nil {
			return "", fmt.Errorf("item to put: %w", err)
		}
	}
	var old map[string]types.AttributeValue
	err = retry.Do(ctx, w.policy(), func(ctx context.Context) error {
		table, cond := aws.String(w.table), aws.String(e.Condition)
		switch {
		case c.Expect == "":
			_, err := w.api.PutItem(ctx, &dynamodb.PutItemInput{TableName: table, Item: item,
				ConditionExpression: cond, ExpressionAttributeNames: e.Names, ExpressionAttributeValues: e.Values})
			return err
		case c.Delete():
			out, err := w.api.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: table, Key: key, ReturnValues: types.ReturnValueAllOld,
				ConditionExpression: cond, ExpressionAttributeNames: e.Names, ExpressionAttributeValues: e.Values})
			if err == nil {
				old = out.Attributes
			}
			return err
		}
		out, err := w.api.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: table, Key: key, ReturnValues: types.ReturnValueAllOld,
			UpdateExpression: e.update(), ConditionExpression: cond, ExpressionAttributeNames: e.Names, ExpressionAttributeValues: e.Values})
		if err == nil {
			old = out.Attributes
		}
		return err
	})
	if err != nil || len(old) == 0 {
		return "", err
	}
	return ddbjson.FromDynamoDB(old)
}

func (w *guardWriter) policy() retry.Policy {
	return retry.Policy{What: "guarded write to " + w.table, Initial: 50 * time.Millisecond, Max: 5 * time.Second, Bound: w.o.RetryBound,
		Retryable: retry.Reason, Hint: "raise the table's capacity or lower --max-wcu, then run it again"}
}

// sameItem compares two items as DynamoDB JSON ("" for none), in canonical form.
func sameItem(a, b string) (bool, error) {
	if a == "" || b == "" {
		return a == b, nil
	}
	ca, err := ddbjson.Canonical(a)
	if err != nil {
		return false, err
	}
	cb, err := ddbjson.Canonical(b)
	if err != nil {
		return false, err
	}
	return ca == cb, nil
}
