package s3

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsretry "github.com/aws/aws-sdk-go-v2/aws/retry"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
)

// probeAttempts and probeTimeout bound Probe: a first contact that fails is said within
// seconds, not after the many attempts later calls are given (DefaultMaxAttempts).
const (
	probeAttempts = 3
	probeTimeout  = 20 * time.Second
)

// Probe makes the bucket's first contact: one listing of at most one key under the
// prefix (what every command may do), with few attempts. A wrong endpoint, a missing
// bucket or refused credentials fail here, named, before anything is written.
func (b *Bucket) Probe(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	_, err := b.client.ListObjectsV2(ctx, &awss3.ListObjectsV2Input{
		Bucket:  aws.String(b.bucket),
		Prefix:  aws.String(b.prefix),
		MaxKeys: aws.Int32(1),
	}, func(o *awss3.Options) {
		o.Retryer = awsretry.AddWithMaxAttempts(o.Retryer, probeAttempts)
	})
	if err != nil {
		return fmt.Errorf("s3://%s/%s: %w", b.bucket, b.prefix, explain(b.bucket, err))
	}
	return nil
}
