// Command benchtool supports the benchmark scripts (scripts/bench-*.sh) and internal/bench:
// it makes their inputs and runs the bare baselines ddbtape is measured against. It is not
// part of ddbtape.
//
//	benchtool gen  -dir DIR -table NAME -items N -changes M -shards S -size BYTES
//	    write a synthetic backup with the writer package (no DynamoDB needed)
//	benchtool load -endpoint URL -table NAME -file RESTORED.json -workers W
//	    the baseline of restore --to-table: a bare parallel BatchWriteItem of the items
//	benchtool fill -endpoint URL -table NAME -items N -size BYTES
//	    load the snapshot benchmark's fixed table
//	benchtool scan -endpoint URL -table NAME -segments N
//	    the baseline of snapshot: a bare parallel Scan that discards the rows
//	benchtool stream -endpoint URL -table NAME -records N -size BYTES
//	    the capture benchmark's backlog: a stream-enabled table and N writes into it
//	benchtool drain -endpoint URL -table NAME -records N
//	    the baseline of capture: every shard of the stream read at once, records discarded
//	benchtool measure -o FILE -- COMMAND [ARG...]
//	    run a command and write its wall time, CPU time (to the microsecond) and peak RSS
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/ddbtape/ddbtape/internal/ddblocal"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "benchtool: %v\n", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) == 0 {
		return errors.New("usage: benchtool gen|load|fill|scan|stream|drain|measure [flags]")
	}
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	table := fs.String("table", "bench", "table name")
	ctx := context.Background()
	switch args[0] {
	case "gen":
		return runGen(ctx, fs, table, args[1:])
	case "load":
		return runLoad(ctx, fs, table, args[1:])
	case "fill":
		return runFill(ctx, fs, table, args[1:])
	case "scan":
		return runScan(ctx, fs, table, args[1:])
	case "stream":
		return runStream(ctx, fs, table, args[1:])
	case "drain":
		return runDrain(ctx, fs, table, args[1:])
	case "measure":
		return runMeasure(fs, args[1:])
	}
	return fmt.Errorf("unknown subcommand %q: use gen, load, fill, scan, stream, drain or measure", args[0])
}

// client is a DynamoDB client of endpoint (DynamoDB Local, started with -sharedDb by the
// scripts, so any credentials do).
func client(endpoint string) *dynamodb.Client {
	return (&ddblocal.Instance{Endpoint: endpoint}).DynamoDB()
}

// since is how long ago began was, for the one line each subcommand prints.
func since(began time.Time) time.Duration { return time.Since(began).Round(time.Millisecond) }
