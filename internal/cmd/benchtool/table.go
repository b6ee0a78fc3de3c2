package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"time"

	"github.com/ddbtape/ddbtape/internal/snapshottest"
)

// runFill loads the snapshot benchmark's fixed table: items of about size bytes.
func runFill(ctx context.Context, fs *flag.FlagSet, table *string, args []string) error {
	endpoint := fs.String("endpoint", "", "DynamoDB endpoint (required)")
	items := fs.Int("items", 40_000, "item count")
	size := fs.Int("size", 1000, "approximate item size in bytes")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *endpoint == "" {
		return errors.New("-endpoint is required")
	}
	db, began := client(*endpoint), time.Now()
	if err := snapshottest.CreateTable(ctx, db, *table); err != nil {
		return err
	}
	if err := snapshottest.Load(ctx, db, *table, snapshottest.UniformItems(*items, *size)); err != nil {
		return err
	}
	fmt.Printf("loaded %d items of about %d bytes into %s in %s\n", *items, *size, *table, since(began))
	return nil
}

// runScan is the baseline of a snapshot: a bare parallel Scan that discards the rows.
func runScan(ctx context.Context, fs *flag.FlagSet, table *string, args []string) error {
	endpoint := fs.String("endpoint", "", "DynamoDB endpoint (required)")
	segments := fs.Int("segments", 4, "parallel Scan segments")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *endpoint == "" {
		return errors.New("-endpoint is required")
	}
	began := time.Now()
	n, err := snapshottest.BareScan(ctx, client(*endpoint), *table, *segments)
	if err != nil {
		return err
	}
	secs := time.Since(began).Seconds()
	fmt.Printf("bare scan: %d items in %.3fs (%.0f items/s)\n", n, secs, float64(n)/secs)
	return nil
}
