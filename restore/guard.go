package restore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
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

// WriteGuarded writes every change each yields into table, one conditional PutItem or
// DeleteItem each, in parallel: a change is written only if the table still holds its
// Expect, attribute by attribute (and, for an item read as absent, no item). A write
// whose condition fails is a conflict and the table keeps the later write. An attribute
// added after the read cannot be named in a condition: each write returns the item it
// replaced, and if that was not Expect the write is undone at once (the old item put back
// on condition that the table holds what was just written) and reported as a conflict.
// Conflicts are sorted by key.
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
	cond, err := Condition(c.Key, c.Expect, w.o.KeyNames)
	if errors.Is(err, errTooLarge) {
		w.conflict(c.Key, ConflictTooLarge)
		return nil
	}
	if err != nil {
		return err
	}
	if err := w.limit.Take(ctx, float64(max(1, (len(c.Item)+1023)/1024))); err != nil {
		return err
	}
	old, err := w.send(ctx, c, cond)
	var failed *types.ConditionalCheckFailedException
	switch {
	case errors.As(err, &failed):
		w.conflict(c.Key, ConflictChanged)
		return nil
	case err != nil:
		return err
	}
	same, err := sameItem(old, c.Expect)
	if err != nil {
		return err
	}
	if !same {
		// An attribute was added after the read: put back what the table held.
		return w.putBack(ctx, c, old)
	}
	w.done(c)
	return nil
}

// send makes the conditional call and returns the item it replaced ("" for none).
func (w *guardWriter) send(ctx context.Context, c Change, cond Cond) (string, error) {
	var old map[string]types.AttributeValue
	err := retry.Do(ctx, w.policy(), func(ctx context.Context) error {
		if c.Delete() {
			key, err := ddbjson.ToDynamoDB(c.Key)
			if err != nil {
				return fmt.Errorf("key to delete: %w", err)
			}
			out, err := w.api.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(w.table), Key: key, ReturnValues: types.ReturnValueAllOld,
				ConditionExpression: aws.String(cond.Expression), ExpressionAttributeNames: cond.Names, ExpressionAttributeValues: cond.Values})
			if err == nil {
				old = out.Attributes
			}
			return err
		}
		item, err := ddbjson.ToDynamoDB(c.Item)
		if err != nil {
			return fmt.Errorf("item to put: %w", err)
		}
		out, err := w.api.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(w.table), Item: item, ReturnValues: types.ReturnValueAllOld,
			ConditionExpression: aws.String(cond.Expression), ExpressionAttributeNames: cond.Names, ExpressionAttributeValues: cond.Values})
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

// putBack undoes change c, which replaced old instead of c.Expect: old goes back on
// condition that the table holds what c wrote. If even that fails, someone wrote the
// key meanwhile, and their write stands.
func (w *guardWriter) putBack(ctx context.Context, c Change, old string) error {
	back := Change{Key: c.Key, Item: old, Expect: c.Item}
	cond, err := Condition(back.Key, back.Expect, w.o.KeyNames)
	if err == nil {
		_, err = w.send(ctx, back, cond)
	}
	var failed *types.ConditionalCheckFailedException
	if err != nil && !errors.As(err, &failed) && !errors.Is(err, errTooLarge) {
		return err
	}
	w.conflict(c.Key, ConflictChanged)
	return nil
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

// Cond is a condition expression with its placeholders.
type Cond struct {
	Expression string
	Names      map[string]string
	Values     map[string]types.AttributeValue
}

// Condition limits of DynamoDB: an expression string of at most 4 KB and at most 300
// operators; 100 attributes (two operators each) stay inside both.
const (
	maxExpression     = 4096
	maxCondAttributes = 100
)

var errTooLarge = errors.New(ConflictTooLarge)

// Condition is the condition under which a write of key may go ahead: that the table holds
// expect, attribute by attribute ("" for none: that the key has no item). An item whose
// condition would pass DynamoDB's limits is an error wrapping errTooLarge. It does no I/O.
func Condition(key, expect string, keyNames []string) (Cond, error) {
	if len(keyNames) == 0 {
		return Cond{}, fmt.Errorf("condition for %s: no key attributes", key)
	}
	if expect == "" {
		return Cond{Expression: "attribute_not_exists(#k)", Names: map[string]string{"#k": keyNames[0]}}, nil
	}
	item, err := ddbjson.ToDynamoDB(expect)
	if err != nil {
		return Cond{}, fmt.Errorf("item %s as read: %w", key, err)
	}
	names := make([]string, 0, len(item))
	for n := range item {
		if !slices.Contains(keyNames, n) {
			names = append(names, n)
		}
	}
	if len(names) > maxCondAttributes {
		return Cond{}, fmt.Errorf("item %s: %w", key, errTooLarge)
	}
	sort.Strings(names)
	c := Cond{Names: map[string]string{"#k": keyNames[0]}, Values: map[string]types.AttributeValue{}}
	var b strings.Builder
	b.WriteString("attribute_exists(#k)")
	for i, n := range names {
		fmt.Fprintf(&b, " AND #a%d = :v%d", i, i)
		c.Names[fmt.Sprintf("#a%d", i)] = n
		c.Values[fmt.Sprintf(":v%d", i)] = item[n]
	}
	c.Expression = b.String()
	if len(c.Expression) > maxExpression {
		return Cond{}, fmt.Errorf("item %s: %w", key, errTooLarge)
	}
	if len(c.Values) == 0 {
		c.Values = nil
	}
	return c, nil
}
