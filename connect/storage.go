package connect

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/ddbtape/ddbtape/checkpoint"
	ckdynamo "github.com/ddbtape/ddbtape/checkpoint/dynamodb"
	checkpointfile "github.com/ddbtape/ddbtape/checkpoint/file"
	"github.com/ddbtape/ddbtape/storage"
	"github.com/ddbtape/ddbtape/storage/dir"
	s3store "github.com/ddbtape/ddbtape/storage/s3"
	"github.com/ddbtape/ddbtape/writer"
)

// Storage is how the object store behind a destination, a source or a checkpoint URL is
// reached.
type Storage struct {
	SSE         string // "", AES256 or aws:kms
	SSEKMSKeyID string
	// PathStyle addresses buckets by path (S3-compatible servers; also DDBTAPE_S3_PATH_STYLE=true).
	PathStyle bool
	// Creds reach the destination when they are not the table's (another account's).
	Creds s3store.Credentials
	// Lock is the Object Lock of the backup objects written.
	Lock s3store.Lock
	// DynamoDBEndpoint is the DynamoDB endpoint of a dynamodb:// checkpoint store.
	DynamoDBEndpoint string
}

// Validate checks the settings that need no network.
func (s *Storage) Validate() error {
	switch s.SSE {
	case "", "AES256", "aws:kms":
	default:
		return settingf("--sse must be AES256 or aws:kms, got %q", s.SSE)
	}
	if s.SSEKMSKeyID != "" && s.SSE != "aws:kms" {
		return settingf("--sse-kms-key-id needs --sse aws:kms")
	}
	if err := s.Lock.Validate(); err != nil {
		return settingf("--object-lock-mode and --object-lock-for: %v", err)
	}
	return nil
}

// Bucket opens the object store a URL names: a directory (created by its first write)
// or an S3 bucket and prefix, probed once so that an unreachable or missing bucket is
// said at start.
func (s *Storage) Bucket(ctx context.Context, cfg aws.Config, rawURL string) (storage.Bucket, error) {
	loc, err := storage.ParseURL(rawURL)
	if err != nil {
		return nil, &SettingError{Msg: err.Error()}
	}
	if loc.Scheme != "s3" {
		if s.Lock.Mode != "" {
			return nil, settingf("an object lock needs an s3:// destination whose bucket has S3 Object Lock: a directory cannot lock its files")
		}
		return dir.New(loc.Path)
	}
	s3cfg, err := s.Creds.Config(ctx, cfg)
	if err != nil {
		return nil, err
	}
	client := s3store.NewClient(s3cfg, s3store.ClientOptions{PathStyle: s.PathStyle})
	b := s3store.New(client, loc.Bucket, loc.Prefix, s3store.Options{SSE: s.SSE, SSEKMSKeyID: s.SSEKMSKeyID, Lock: s.Lock})
	if err := b.Probe(ctx); err != nil {
		return nil, err
	}
	if err := b.CheckLock(ctx); err != nil {
		return nil, err
	}
	return b, nil
}

// Checkpoints opens the checkpoint store rawURL names; empty means the default, beside
// the data under <dest>/<table>/checkpoints/. A dynamodb:// store is opened as a
// reader's, in the default application namespace (a capture with leases opens it
// through Fleet).
func (s *Storage) Checkpoints(ctx context.Context, cfg aws.Config, rawURL string, dest storage.Bucket, table string) (checkpoint.Store, error) {
	if rawURL == "" {
		return checkpointfile.New(dest, writer.CheckpointsPrefix(table)), nil
	}
	if IsDynamoDB(rawURL) {
		store, _, err := Fleet{App: ckdynamo.DefaultApp}.Store(ctx, cfg, rawURL, s.DynamoDBEndpoint)
		if err != nil {
			return nil, fmt.Errorf("checkpoint store: %w", err)
		}
		return store, nil
	}
	unlocked := *s // checkpoint documents are rewritten: never locked
	unlocked.Lock = s3store.Lock{}
	b, err := unlocked.Bucket(ctx, cfg, rawURL)
	if err != nil {
		return nil, fmt.Errorf("checkpoint store: %w", err)
	}
	return checkpointfile.New(b, ""), nil
}
