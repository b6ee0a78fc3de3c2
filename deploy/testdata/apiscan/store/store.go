// Package store is a fixture: each call below is one way code reaches the SDK.
package store

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/feature/s3/manager"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
)

// tableAPI is a narrow interface: declaring the method names its input type.
type tableAPI interface {
	UpdateTable(ctx context.Context, in *ddb.UpdateTableInput, optFns ...func(*ddb.Options)) (*ddb.UpdateTableOutput, error)
}

// Grow calls through the interface, lists tables without an input, heads an object
// and uploads with the transfer manager.
func Grow(ctx context.Context, c tableAPI) error {
	var client *ddb.Client
	_, _ = client.ListTables(ctx, nil)
	var s *awss3.Client
	_, _ = s.HeadObject(ctx, new(awss3.HeadObjectInput))
	_ = manager.NewUploader(s)
	var st *dynamodbstreams.Client
	_ = st
	return nil
}
