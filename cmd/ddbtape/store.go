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
	"github.com/ddbtape/ddbtape/config"
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
	// creds reach the destination when they are not the table's (another account's).
	creds s3store.Credentials
	// lock is the Object Lock of the backup objects written (registerLock's flags).
	lock     s3store.Lock
	lockMode string
}

func (s *storageFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&s.sse, "sse", "", "S3 server-side encryption: AES256 or aws:kms")
	fs.StringVar(&s.sseKMSKeyID, "sse-kms-key-id", "", "KMS key for --sse aws:kms")
	fs.BoolVar(&s.pathStyle, "s3-path-style", false, "address S3 buckets by path (for S3-compatible servers; also DDBTAPE_S3_PATH_STYLE=true)")
	fs.StringVar(&s.creds.Profile, "s3-profile", "", "AWS profile whose credentials (and region) reach the S3 destination, e.g. of the backup account (default: the table's)")
	fs.StringVar(&s.creds.RoleARN, "s3-role-arn", "", "IAM role to assume for the S3 destination, e.g. in the backup account")
}

// registerLock adds the Object Lock flags of the commands that write backup objects.
func (s *storageFlags) registerLock(fs *flag.FlagSet) {
	fs.StringVar(&s.lockMode, "object-lock-mode", "", "lock every backup object written under S3 Object Lock: governance or compliance (the bucket must have Object Lock)")
	fs.Func("object-lock-for", "how long each object stays locked after its write, e.g. 91d (with --object-lock-mode)", func(v string) (err error) {
		s.lock.For, err = config.ParseDuration(v)
		return err
	})
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
	mode, err := s3store.ParseLockMode(s.lockMode)
	if err != nil {
		return usagef("--object-lock-mode: %v", err)
	}
	s.lock.Mode = mode
	if err := s.lock.Validate(); err != nil {
		return usagef("--object-lock-mode and --object-lock-for: %v", err)
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
		s3cfg, err := s.creds.Config(ctx, cfg)
		if err != nil {
			return nil, err
		}
		client := s3store.NewClient(s3cfg, s3store.ClientOptions{PathStyle: s.pathStyle || strings.EqualFold(e.getenv("DDBTAPE_S3_PATH_STYLE"), "true")})
		b := s3store.New(client, loc.Bucket, loc.Prefix, s3store.Options{SSE: s.sse, SSEKMSKeyID: s.sseKMSKeyID, Lock: s.lock})
		if err := b.Probe(ctx); err != nil {
			return nil, err
		}
		if err := b.CheckLock(ctx); err != nil {
			return nil, err
		}
		return b, nil
	default:
		if s.lock.Mode != "" {
			return nil, usagef("an object lock needs an s3:// destination whose bucket has S3 Object Lock: a directory cannot lock its files")
		}
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
	unlocked := *s // checkpoint documents are rewritten: never locked
	unlocked.lock = s3store.Lock{}
	b, err := unlocked.openBucket(ctx, e, cfg, rawURL)
	if err != nil {
		return nil, fmt.Errorf("checkpoint store: %w", err)
	}
	return checkpointfile.New(b, ""), nil
}
