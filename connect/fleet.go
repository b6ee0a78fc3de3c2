package connect

import (
	"context"
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

// DynamoDBScheme starts a checkpoint URL that names a DynamoDB table.
const DynamoDBScheme = "dynamodb://"

// IsDynamoDB reports whether a checkpoint URL names a DynamoDB table.
func IsDynamoDB(rawURL string) bool { return strings.HasPrefix(rawURL, DynamoDBScheme) }

// ValidTableName reports whether name is a DynamoDB table name: 3-255 characters of
// [a-zA-Z0-9_.-].
func ValidTableName(name string) bool {
	return len(name) >= 3 && len(name) <= 255 && strings.Trim(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") == ""
}

// Fleet is a DynamoDB checkpoint table and the workers that share shards through it.
type Fleet struct {
	// App namespaces one pipeline's checkpoints and leases in a shared table.
	App string
	// WorkerID is this worker's name in the lease table; empty means hostname-pid.
	WorkerID string
	// CreateTable creates the checkpoint table when it is missing.
	CreateTable bool
	// Endpoint is the checkpoint table's DynamoDB endpoint when it is not the table's.
	Endpoint string
	// LeaseDuration is how long a lease lives without renewal.
	LeaseDuration time.Duration
}

// Validate checks a dynamodb:// checkpoint URL and the fleet's settings; other URLs
// pass.
func (f Fleet) Validate(checkpointURL string) error {
	if !IsDynamoDB(checkpointURL) {
		return nil
	}
	name := strings.TrimPrefix(checkpointURL, DynamoDBScheme)
	if !ValidTableName(name) {
		return settingf("--checkpoint %s: %q is not a valid DynamoDB table name", checkpointURL, name)
	}
	if f.LeaseDuration < 2*time.Second {
		return settingf("--lease-duration must be at least 2s, got %s", f.LeaseDuration)
	}
	if _, err := ckdynamo.New(nil, name, f.App); err != nil {
		return settingf("--app-name: %v", err)
	}
	return nil
}

// Worker is WorkerID, or hostname-pid.
func (f Fleet) Worker() string {
	if f.WorkerID != "" {
		return f.WorkerID
	}
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "worker"
	}
	return fmt.Sprintf("%s-%d", host, os.Getpid())
}

// Store opens the checkpoint store a dynamodb://TABLE URL names, creating the table when
// CreateTable is set. endpoint is the table's DynamoDB endpoint ("" for the SDK's
// configuration); f.Endpoint wins over it.
func (f Fleet) Store(ctx context.Context, cfg aws.Config, rawURL, endpoint string) (*ckdynamo.Store, *dynamodb.Client, error) {
	if f.Endpoint != "" {
		endpoint = f.Endpoint
	}
	client := dynamoDBAt(cfg, endpoint)
	store, err := ckdynamo.New(client, strings.TrimPrefix(rawURL, DynamoDBScheme), f.App)
	if err != nil {
		return nil, nil, &SettingError{Msg: err.Error()}
	}
	if err := store.EnsureTable(ctx, f.CreateTable, 5*time.Minute); err != nil {
		return nil, nil, err
	}
	return store, client, nil
}

// Leases is the lease manager of one table for this worker; rec hears how many shards
// have no live owner after each heartbeat.
func (f Fleet) Leases(client *dynamodb.Client, store *ckdynamo.Store, table string, rec metrics.Recorder, log *slog.Logger) (*ckdynamo.Leases, error) {
	return ckdynamo.NewLeases(client, store, ckdynamo.LeaseConfig{Table: table, WorkerID: f.Worker(), Duration: f.LeaseDuration, Logger: log,
		Unowned: func(n int) { rec.LeasesUnowned(table, n) }})
}
