package main

import (
	"context"
	"errors"
	"strings"

	"github.com/ddbtape/ddbtape/catalog"
	"github.com/ddbtape/ddbtape/ddbjson"
	"github.com/ddbtape/ddbtape/history"
	"github.com/ddbtape/ddbtape/internal/cli"
)

const historyUsage = "--source URL --table NAME --key KEY [--from TIME] [--to TIME] [--json]"

func runHistory(ctx context.Context, e *cli.Env, args []string) error {
	fs := cli.NewFlagSet(e, "history", historyUsage)
	var src sourceFlags
	src.register(fs)
	var (
		key    = fs.String("key", "", `the item's key as DynamoDB JSON, e.g. {"pk":{"S":"order#1"}} (attribute order and number forms do not matter) (required)`)
		from   = fs.String("from", "", "start of the range, RFC 3339: the item as it was then is the base version (default: the start of the oldest restorable window)")
		to     = fs.String("to", "latest", "end of the range, inclusive: RFC 3339, or now/latest for the end of the restorable window")
		asJSON = fs.Bool("json", false, "print the history as one JSON document")
		lock   lockFlags
	)
	lock.register(fs)
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	if err := src.validate(); err != nil {
		return err
	}
	q, err := historyQuery(*key, *from, *to)
	if err != nil {
		return err
	}
	q.Hold = catalog.PlanOptions{NoLock: lock.noLock}
	q.Parallelism = *src.parallel
	_, bk, err := src.open(ctx, e, false)
	if err != nil {
		return err
	}
	o := src.restoreOptions(e, bk, corruptFlags{})
	meter := o.Meter("read backup", "rows", 0)
	q.Progress = meter
	res, err := history.Of(ctx, bk.cat, o.Reader, q)
	if err == nil {
		meter.Done()
	}
	switch {
	case errors.Is(err, history.ErrBadKey):
		return cli.Usagef("%v", err)
	case err != nil:
		return err
	case *asJSON:
		return history.WriteJSON(e.Stdout, res)
	}
	return history.WriteText(e.Stdout, res)
}

// historyQuery reads --key, --from and --to; a mistake is a usage error.
func historyQuery(key, from, to string) (history.Query, error) {
	var q history.Query
	if strings.TrimSpace(key) == "" {
		return q, cli.Usagef(`--key is required: the item's key as DynamoDB JSON, e.g. {"pk":{"S":"order#1"}}`)
	}
	if _, err := ddbjson.ToDynamoDB(strings.TrimSpace(key)); err != nil {
		return q, cli.Usagef("--key %s is not DynamoDB JSON: %v", key, err)
	}
	q.Key = key
	if from != "" {
		at, err := catalog.ParseAt(from)
		if err != nil || at.Latest {
			return q, cli.Usagef("--from %q is not a time: give RFC 3339 such as 2026-03-01T10:42:16Z", from)
		}
		q.From = at.Time
	}
	at, err := catalog.ParseAt(to)
	if err != nil {
		return q, cli.Usagef("--to: %v", strings.TrimPrefix(err.Error(), "--at "))
	}
	q.To = at
	return q, nil
}
