package s3

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// PathStyleEnv names the environment variable that, set to "true", makes NewClient use
// path-style addressing (http://host/bucket/key), which S3-compatible stores such as
// versitygw and MinIO need.
const PathStyleEnv = "DDBTAPE_S3_PATH_STYLE"

const (
	// DefaultMaxAttempts is higher than the SDK's 3: a backup writer would rather wait out
	// a burst of 503 SlowDown or 500s than fail a segment and restart its shard.
	DefaultMaxAttempts = 10
	// DefaultMaxBackoff caps the wait between attempts.
	DefaultMaxBackoff = 30 * time.Second
)

// ClientOptions configure the S3 client NewClient builds.
type ClientOptions struct {
	// PathStyle addresses buckets in the path instead of the host name. Also turned on by
	// DDBTAPE_S3_PATH_STYLE=true.
	PathStyle bool
	// Endpoint overrides the S3 endpoint (normally from AWS_ENDPOINT_URL_S3 or
	// AWS_ENDPOINT_URL, which the SDK's config loading reads).
	Endpoint string
	// MaxAttempts per request, first try included; 0 means DefaultMaxAttempts.
	MaxAttempts int
	// MaxBackoff caps the wait between attempts; 0 means DefaultMaxBackoff.
	MaxBackoff time.Duration
}

// NewClient builds an S3 client from cfg with the SDK's standard retryer (5xx, SlowDown,
// throttling, connection errors) given more attempts and a higher cap, without the
// client-side retry quota (which would turn a long outage into immediate failures), and
// also retrying 409 ConditionalRequestConflict, which S3 says to retry.
func NewClient(cfg aws.Config, o ClientOptions) *awss3.Client {
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = DefaultMaxAttempts
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = DefaultMaxBackoff
	}
	if v, err := strconv.ParseBool(os.Getenv(PathStyleEnv)); err == nil && v {
		o.PathStyle = true
	}
	return awss3.NewFromConfig(cfg, func(so *awss3.Options) {
		so.UsePathStyle = o.PathStyle
		if o.Endpoint != "" {
			so.BaseEndpoint = aws.String(o.Endpoint)
		}
		so.Retryer = retry.NewStandard(func(ro *retry.StandardOptions) {
			ro.MaxAttempts = o.MaxAttempts
			ro.MaxBackoff = o.MaxBackoff
			ro.RateLimiter = ratelimit.None
			ro.Retryables = append(ro.Retryables, retry.RetryableErrorCode{
				Codes: map[string]struct{}{"ConditionalRequestConflict": {}},
			})
		})
	})
}

// LoadClient loads the SDK's standard configuration (environment, shared config and
// credentials files, AWS_ENDPOINT_URL_S3, ...) and builds a client with NewClient.
func LoadClient(ctx context.Context, o ClientOptions, optFns ...func(*config.LoadOptions) error) (*awss3.Client, error) {
	cfg, err := config.LoadDefaultConfig(ctx, optFns...)
	if err != nil {
		return nil, fmt.Errorf("load AWS configuration for S3: %w", err)
	}
	return NewClient(cfg, o), nil
}

// Credentials say whose credentials reach the destination when they are not the table's:
// a profile of the shared configuration files, a role to assume, or both (the role is
// then assumed with the profile's credentials). A backup in another account is reached
// this way, so nothing in the table's account can delete it. The zero Credentials are the
// table's.
type Credentials struct {
	// Profile names a profile of the shared config and credentials files
	// (AWS_CONFIG_FILE, AWS_SHARED_CREDENTIALS_FILE); its region, when set, is the
	// bucket's.
	Profile string
	// RoleARN is a role to assume for the destination, e.g. one in the backup account.
	RoleARN string
}

// Config returns base with the destination's credentials in place: base itself for the
// zero Credentials. A role is assumed lazily, at the first request, and renewed before
// it expires.
func (c Credentials) Config(ctx context.Context, base aws.Config) (aws.Config, error) {
	cfg := base
	if c.Profile != "" {
		loaded, err := config.LoadDefaultConfig(ctx, config.WithSharedConfigProfile(c.Profile))
		if err != nil {
			return aws.Config{}, fmt.Errorf("load AWS profile %q for the destination (is it in AWS_CONFIG_FILE or ~/.aws/config?): %w", c.Profile, err)
		}
		if loaded.Region == "" {
			loaded.Region = base.Region
		}
		loaded.Logger, loaded.ClientLogMode = base.Logger, base.ClientLogMode
		cfg = loaded
	}
	if c.RoleARN != "" {
		provider := stscreds.NewAssumeRoleProvider(sts.NewFromConfig(cfg), c.RoleARN, func(o *stscreds.AssumeRoleOptions) {
			o.RoleSessionName = "ddbtape"
		})
		cfg.Credentials = aws.NewCredentialsCache(provider)
	}
	return cfg, nil
}
