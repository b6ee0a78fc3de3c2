// Package connect opens what a command reaches: the AWS configuration (with its
// credentials looked up at start), DynamoDB and DynamoDB Streams clients, the bucket a
// destination or source URL names, a checkpoint store, and a fleet's DynamoDB checkpoint
// table with its shard leases. The command line and the config file of `run` fill its
// settings; a wrong setting is a *SettingError, the user's to fix.
package connect

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	"github.com/aws/smithy-go/logging"
)

// SettingError is a wrong setting: a URL, a name, a lock on a directory, no region.
type SettingError struct{ Msg string }

func (e *SettingError) Error() string { return e.Msg }

// Setting marks the error as the user's to fix (the CLI's exit status 2).
func (e *SettingError) Setting() {}

func settingf(format string, args ...any) error {
	return &SettingError{Msg: fmt.Sprintf(format, args...)}
}

// AWS is how a command reaches AWS, on top of the SDK's own configuration chain
// (AWS_REGION, profiles, AWS_ENDPOINT_URL_DYNAMODB, ...).
type AWS struct {
	Region string
	// EndpointURL is for DynamoDB and DynamoDB Streams, e.g. DynamoDB Local's.
	EndpointURL string
	// Log, when set, receives the SDK's own log lines at debug level; otherwise they are
	// dropped (they would break the one-line error contract on stderr).
	Log *slog.Logger
}

// ErrNoRegion means neither the settings nor the SDK's configuration name a region.
var ErrNoRegion = &SettingError{Msg: "no AWS region: pass --region or set AWS_REGION"}

// Load loads the SDK's configuration and looks its credentials up once.
func (a AWS) Load(ctx context.Context) (aws.Config, error) {
	var sdkLog logging.Logger = logging.Nop{}
	if a.Log != nil {
		log := a.Log
		sdkLog = logging.LoggerFunc(func(class logging.Classification, format string, v ...any) {
			log.Debug(fmt.Sprintf(format, v...), "source", "aws-sdk", "class", string(class))
		})
	}
	// The logger goes in while loading too: the credential chain's own clients (IMDS)
	// would otherwise print their warnings on stderr.
	opts := []func(*config.LoadOptions) error{config.WithLogger(sdkLog)}
	if a.Region != "" {
		opts = append(opts, config.WithRegion(a.Region))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("load AWS configuration: %w (check AWS_PROFILE and ~/.aws/config)", err)
	}
	if cfg.Region == "" {
		return aws.Config{}, ErrNoRegion
	}
	if err := checkCredentials(ctx, cfg); err != nil {
		return aws.Config{}, err
	}
	return cfg, nil
}

// credentialsTimeout bounds the credential chain's first lookup (an instance role's
// endpoint that does not answer would otherwise hold the command for minutes).
const credentialsTimeout = 20 * time.Second

// ErrNoCredentials names every way to give the SDK credentials.
var ErrNoCredentials = errors.New("no AWS credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE, or run with an IAM role (DynamoDB Local and test S3 servers accept any, e.g. AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local)")

// checkCredentials looks the credentials up once, so that their absence is said at
// start in one line, not as the SDK's chain of failed providers on the first call.
func checkCredentials(ctx context.Context, cfg aws.Config) error {
	if cfg.Credentials == nil {
		return ErrNoCredentials
	}
	ctx, cancel := context.WithTimeout(ctx, credentialsTimeout)
	defer cancel()
	if _, err := cfg.Credentials.Retrieve(ctx); err != nil {
		if ctx.Err() != nil && !errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return ctx.Err()
		}
		return ErrNoCredentials
	}
	return nil
}

// DynamoDB is a DynamoDB client at EndpointURL, if set.
func (a AWS) DynamoDB(cfg aws.Config) *dynamodb.Client {
	return dynamoDBAt(cfg, a.EndpointURL)
}

// Streams is a DynamoDB Streams client at EndpointURL, if set.
func (a AWS) Streams(cfg aws.Config) *dynamodbstreams.Client {
	return dynamodbstreams.NewFromConfig(cfg, func(o *dynamodbstreams.Options) {
		if a.EndpointURL != "" {
			o.BaseEndpoint = aws.String(a.EndpointURL)
		}
	})
}

func dynamoDBAt(cfg aws.Config, endpoint string) *dynamodb.Client {
	return dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) {
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
		}
	})
}
