// Command benchtool supports scripts/bench-snapshot.sh: it loads the benchmark's fixed
// table into a DynamoDB endpoint, and runs the baseline a snapshot is measured against, a
// bare parallel Scan that discards the rows.
//
//	benchtool load -endpoint URL -table NAME -items N -size BYTES
//	benchtool scan -endpoint URL -table NAME -segments N
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/ddbtape/ddbtape/snapshot/snapshottest"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "benchtool: %v\n", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("usage: benchtool load|scan [flags]")
	}
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	endpoint := fs.String("endpoint", "", "DynamoDB endpoint (required)")
	table := fs.String("table", "bench", "table name")
	items := fs.Int("items", 40_000, "load: item count")
	size := fs.Int("size", 1000, "load: approximate item size in bytes")
	segments := fs.Int("segments", 4, "scan: parallel Scan segments")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *endpoint == "" {
		return fmt.Errorf("-endpoint is required")
	}
	db := dynamodb.New(dynamodb.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(*endpoint),
		Credentials: credentials.NewStaticCredentialsProvider("bench", "bench", ""),
	})
	ctx := context.Background()
	began := time.Now()
	switch args[0] {
	case "load":
		if err := snapshottest.CreateTable(ctx, db, *table); err != nil {
			return err
		}
		if err := snapshottest.Load(ctx, db, *table, snapshottest.UniformItems(*items, *size)); err != nil {
			return err
		}
		fmt.Printf("loaded %d items of about %d bytes into %s in %s\n", *items, *size, *table, time.Since(began).Round(time.Millisecond))
	case "scan":
		n, err := snapshottest.BareScan(ctx, db, *table, *segments)
		if err != nil {
			return err
		}
		secs := time.Since(began).Seconds()
		fmt.Printf("bare scan: %d items in %.3fs (%.0f items/s)\n", n, secs, float64(n)/secs)
	default:
		return fmt.Errorf("unknown command %q: use load or scan", args[0])
	}
	return nil
}
