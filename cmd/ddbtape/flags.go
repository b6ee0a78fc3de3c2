package main

import (
	"flag"

	ckdynamo "github.com/ddbtape/ddbtape/checkpoint/dynamodb"
	"github.com/ddbtape/ddbtape/config"
	"github.com/ddbtape/ddbtape/connect"
	"github.com/ddbtape/ddbtape/internal/cli"
	s3store "github.com/ddbtape/ddbtape/storage/s3"
)

// The flag groups several commands share; package connect opens what they name.

// awsFlags are the flags every command takes to reach AWS.
type awsFlags struct{ connect.AWS }

func (a *awsFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&a.Region, "region", "", "AWS region (default: the SDK's configuration, e.g. AWS_REGION)")
	fs.StringVar(&a.EndpointURL, "endpoint-url", "", "endpoint for DynamoDB and DynamoDB Streams, e.g. http://localhost:8000 for DynamoDB Local")
}

// storageFlags select and tune the object store behind --dest, --source and --checkpoint.
type storageFlags struct {
	connect.Storage
	lockMode string
}

func (s *storageFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&s.SSE, "sse", "", "S3 server-side encryption: AES256 or aws:kms")
	fs.StringVar(&s.SSEKMSKeyID, "sse-kms-key-id", "", "KMS key for --sse aws:kms")
	fs.BoolVar(&s.PathStyle, "s3-path-style", false, "address S3 buckets by path (for S3-compatible servers; also DDBTAPE_S3_PATH_STYLE=true)")
	fs.StringVar(&s.Creds.Profile, "s3-profile", "", "AWS profile whose credentials (and region) reach the S3 destination, e.g. of the backup account (default: the table's)")
	fs.StringVar(&s.Creds.RoleARN, "s3-role-arn", "", "IAM role to assume for the S3 destination, e.g. in the backup account")
}

// registerLock adds the Object Lock flags of the commands that write backup objects.
func (s *storageFlags) registerLock(fs *flag.FlagSet) {
	fs.StringVar(&s.lockMode, "object-lock-mode", "", "lock every backup object written under S3 Object Lock: governance or compliance (the bucket must have Object Lock)")
	fs.Func("object-lock-for", "how long each object stays locked after its write, e.g. 91d (with --object-lock-mode)", func(v string) (err error) {
		s.Lock.For, err = config.ParseDuration(v)
		return err
	})
}

func (s *storageFlags) validate() error {
	mode, err := s3store.ParseLockMode(s.lockMode)
	if err != nil {
		return cli.Usagef("--object-lock-mode: %v", err)
	}
	s.Lock.Mode = mode
	return s.Validate()
}

// fleetFlags are the flags of the DynamoDB checkpoint store and of workers sharing shards.
type fleetFlags struct{ connect.Fleet }

func (f *fleetFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.App, "app-name", ckdynamo.DefaultApp, "with --checkpoint dynamodb://TABLE: namespace of this pipeline's checkpoints and leases, so several pipelines share one table")
	fs.StringVar(&f.WorkerID, "worker-id", "", "with --checkpoint dynamodb://TABLE: this worker's name in the lease table, unique per process (default: hostname-pid)")
	fs.BoolVar(&f.CreateTable, "create-checkpoint-table", false, "create the dynamodb:// checkpoint table if missing (on-demand billing) and wait until it is ACTIVE")
	fs.StringVar(&f.Endpoint, "checkpoint-endpoint-url", "", "DynamoDB endpoint of the dynamodb:// checkpoint table (default: --endpoint-url, else the SDK's configuration)")
	fs.DurationVar(&f.LeaseDuration, "lease-duration", ckdynamo.DefaultLeaseDuration, "how long a worker's shard lease lives without renewal; a dead worker's shards are taken over after it")
}
