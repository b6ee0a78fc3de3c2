package main

import (
	"context"
	"flag"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/ddbtape/ddbtape/checkpoint"
	ckdynamo "github.com/ddbtape/ddbtape/checkpoint/dynamodb"
	checkpointfile "github.com/ddbtape/ddbtape/checkpoint/file"
	"github.com/ddbtape/ddbtape/storage"
	"github.com/ddbtape/ddbtape/storage/dir"
	s3store "github.com/ddbtape/ddbtape/storage/s3"
	"github.com/ddbtape/ddbtape/writer"
)

// storageFlags select and tune the object store behind --dest, --source and --checkpoint.
type storageFlags struct {
	sse         string
	sseKMSKeyID string
	pathStyle   bool
	// dynamoEndpoint is --endpoint-url, for a dynamodb:// checkpoint store.
	dynamoEndpoint string
}

func (s *storageFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&s.sse, "sse", "", "S3 server-side encryption: AES256 or aws:kms")
	fs.StringVar(&s.sseKMSKeyID, "sse-kms-key-id", "", "KMS key for --sse aws:kms")
	fs.BoolVar(&s.pathStyle, "s3-path-style", false, "address S3 buckets by path (for S3-compatible servers; also DDBTAPE_S3_PATH_STYLE=true)")
}

func (s *storageFlags) validate() error {
	switch s.sse {
	case "", "AES256", "aws:kms":
	default:
		return usagef("--sse must be AES256 or aws:kms, got %q", s.sse)
	}
	if s.sseKMSKeyID != "" && s.sse != "aws:kms" {
		return usagef("--sse-kms-key-id needs --sse aws:kms")
	}
	return nil
}

// openBucket opens the object store a destination URL names: a directory (created if
// missing) or an S3 bucket and prefix.
func (s *storageFlags) openBucket(ctx context.Context, e *env, cfg aws.Config, rawURL string) (storage.Bucket, error) {
	loc, err := storage.ParseURL(rawURL)
	if err != nil {
		return nil, &usageError{msg: err.Error()}
	}
	switch loc.Scheme {
	case "s3":
		client := s3store.NewClient(cfg, s3store.ClientOptions{PathStyle: s.pathStyle || strings.EqualFold(e.getenv("DDBTAPE_S3_PATH_STYLE"), "true")})
		return s3store.New(client, loc.Bucket, loc.Prefix, s3store.Options{SSE: s.sse, SSEKMSKeyID: s.sseKMSKeyID}), nil
	default:
		b, err := dir.New(loc.Path)
		if err != nil {
			return nil, err
		}
		return b, nil
	}
}

// openCheckpoints opens the checkpoint store --checkpoint names; empty means the default,
// beside the data under <dest>/<table>/checkpoints/.
func (s *storageFlags) openCheckpoints(ctx context.Context, e *env, cfg aws.Config, rawURL string, dest storage.Bucket, table string) (checkpoint.Store, error) {
	if rawURL == "" {
		return checkpointfile.New(dest, writer.CheckpointsPrefix(table)), nil
	}
	if isDynamoDBCheckpoint(rawURL) {
		// Readers (restore, status, verify, run without leases) use the default
		// application namespace and the DynamoDB endpoint of the SDK's configuration or
		// of s.dynamoEndpoint; capture opens it itself, with leases (see fleet.go).
		f := fleetFlags{app: ckdynamo.DefaultApp}
		store, _, err := f.openDynamoDBCheckpoints(ctx, cfg, rawURL, s.dynamoEndpoint)
		if err != nil {
			return nil, fmt.Errorf("checkpoint store: %w", err)
		}
		return store, nil
	}
	b, err := s.openBucket(ctx, e, cfg, rawURL)
	if err != nil {
		return nil, fmt.Errorf("checkpoint store: %w", err)
	}
	return checkpointfile.New(b, ""), nil
}
