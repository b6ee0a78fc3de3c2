package ddblocal

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
)

const (
	// Region is the region the clients and Env use. DynamoDB Local accepts any region; with
	// -sharedDb every region sees the same tables.
	Region = "us-east-1"
	// AccessKeyID and SecretAccessKey are the static credentials the clients and Env use.
	AccessKeyID     = "ddblocal"
	SecretAccessKey = "ddblocal"
)

// AWSConfig returns an SDK configuration that sends DynamoDB and DynamoDB Streams calls to
// this instance. The endpoint is set per service (not aws.Config.BaseEndpoint), so an S3
// client made from the same configuration still goes wherever the environment says.
// A process-wide AWS_ENDPOINT_URL without AWS_ENDPOINT_URL_DYNAMODB makes the SDK ignore
// per-service sources; DynamoDB and Streams below set the endpoint directly and are immune.
func (i *Instance) AWSConfig() aws.Config {
	return aws.Config{
		Region:      Region,
		Credentials: credentials.NewStaticCredentialsProvider(AccessKeyID, SecretAccessKey, ""),
		ConfigSources: []any{serviceEndpoints{
			dynamodb.ServiceID:        i.Endpoint,
			dynamodbstreams.ServiceID: i.Endpoint,
		}},
	}
}

// DynamoDB returns a DynamoDB client for this instance.
func (i *Instance) DynamoDB() *dynamodb.Client {
	return dynamodb.NewFromConfig(i.AWSConfig(), func(o *dynamodb.Options) {
		o.BaseEndpoint = aws.String(i.Endpoint)
	})
}

// Streams returns a DynamoDB Streams client for this instance.
func (i *Instance) Streams() *dynamodbstreams.Client {
	return dynamodbstreams.NewFromConfig(i.AWSConfig(), func(o *dynamodbstreams.Options) {
		o.BaseEndpoint = aws.String(i.Endpoint)
	})
}

// Env returns the environment for a subprocess (the ddbtape binary) that must talk to this
// instance through the SDK's standard configuration chain. Append it to os.Environ(); later
// entries win.
func (i *Instance) Env() []string {
	return []string{
		"AWS_ENDPOINT_URL_DYNAMODB=" + i.Endpoint,
		"AWS_ENDPOINT_URL_DYNAMODB_STREAMS=" + i.Endpoint,
		"AWS_REGION=" + Region,
		"AWS_ACCESS_KEY_ID=" + AccessKeyID,
		"AWS_SECRET_ACCESS_KEY=" + SecretAccessKey,
	}
}

// serviceEndpoints is a configuration source the SDK's service clients consult for a
// per-service base endpoint, keyed by the service's SDK ID ("DynamoDB", "DynamoDB Streams").
type serviceEndpoints map[string]string

func (s serviceEndpoints) GetServiceBaseEndpoint(_ context.Context, sdkID string) (string, bool, error) {
	ep, ok := s[sdkID]
	return ep, ok, nil
}
