package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	ckdynamo "github.com/ddbtape/ddbtape/checkpoint/dynamodb"
	"github.com/ddbtape/ddbtape/metrics"
)

// This file wires the DynamoDB checkpoint store and shard leases into the CLI.

const dynamoDBScheme = "dynamodb://"

// fleetFlags are the flags of the DynamoDB checkpoint store and of workers sharing shards.
type fleetFlags struct {
	app                string
	workerID           string
	createTable        bool
	checkpointEndpoint string
	leaseDuration      time.Duration
}

func (f *fleetFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.app, "app-name", ckdynamo.DefaultApp, "with --checkpoint dynamodb://TABLE: namespace of this pipeline's checkpoints and leases, so several pipelines share one table")
	fs.StringVar(&f.workerID, "worker-id", "", "with --checkpoint dynamodb://TABLE: this worker's name in the lease table, unique per process (default: hostname-pid)")
	fs.BoolVar(&f.createTable, "create-checkpoint-table", false, "create the dynamodb:// checkpoint table if missing (on-demand billing) and wait until it is ACTIVE")
	fs.StringVar(&f.checkpointEndpoint, "checkpoint-endpoint-url", "", "DynamoDB endpoint of the dynamodb:// checkpoint table (default: --endpoint-url, else the SDK's configuration)")
	fs.DurationVar(&f.leaseDuration, "lease-duration", ckdynamo.DefaultLeaseDuration, "how long a worker's shard lease lives without renewal; a dead worker's shards are taken over after it")
}

// isDynamoDBCheckpoint reports whether --checkpoint names a DynamoDB table.
func isDynamoDBCheckpoint(rawURL string) bool { return strings.HasPrefix(rawURL, dynamoDBScheme) }

func (f *fleetFlags) validate(checkpointURL string) error {
	if !isDynamoDBCheckpoint(checkpointURL) {
		return nil
	}
	name := strings.TrimPrefix(checkpointURL, dynamoDBScheme)
	if err := requireTable(name); err != nil {
		return usagef("--checkpoint %s: %q is not a valid DynamoDB table name", checkpointURL, name)
	}
	if f.leaseDuration < 2*time.Second {
		return usagef("--lease-duration must be at least 2s, got %s", f.leaseDuration)
	}
	if _, err := ckdynamo.New(nil, name, f.app); err != nil {
		return usagef("--app-name: %v", err)
	}
	return nil
}

// worker returns --worker-id or hostname-pid.
func (f *fleetFlags) worker() string {
	if f.workerID != "" {
		return f.workerID
	}
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "worker"
	}
	return fmt.Sprintf("%s-%d", host, os.Getpid())
}

// openDynamoDBCheckpoints opens the store a dynamodb://TABLE URL names, creating the
// table when --create-checkpoint-table is set. endpoint is --endpoint-url ("" for the
// SDK's configuration); --checkpoint-endpoint-url wins over it.
func (f *fleetFlags) openDynamoDBCheckpoints(ctx context.Context, cfg aws.Config, rawURL, endpoint string) (*ckdynamo.Store, *dynamodb.Client, error) {
	if f.checkpointEndpoint != "" {
		endpoint = f.checkpointEndpoint
	}
	client := dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) {
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
		}
	})
	store, err := ckdynamo.New(client, strings.TrimPrefix(rawURL, dynamoDBScheme), f.app)
	if err != nil {
		return nil, nil, &usageError{msg: err.Error()}
	}
	if err := store.EnsureTable(ctx, f.createTable, 5*time.Minute); err != nil {
		return nil, nil, err
	}
	return store, client, nil
}

// newLeases returns the lease manager of one table for this worker.
// rec hears how many shards have no live owner after each heartbeat.
func (f *fleetFlags) newLeases(client *dynamodb.Client, store *ckdynamo.Store, table string, rec metrics.Recorder, log *slog.Logger) (*ckdynamo.Leases, error) {
	return ckdynamo.NewLeases(client, store, ckdynamo.LeaseConfig{Table: table, WorkerID: f.worker(), Duration: f.leaseDuration, Logger: log,
		Unowned: func(n int) { rec.LeasesUnowned(table, n) }})
}
