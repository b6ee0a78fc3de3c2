package dynamodb

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// hookedAPI is the real DynamoDB Local client with a hook around every UpdateItem, so a
// test can hold one write back, or model a server that applies a write whose answer the
// caller never gets. Reads go through the checkpoint store's own client.
type hookedAPI struct {
	LeaseAPI
	update func(ctx context.Context, in *ddb.UpdateItemInput, call func(context.Context) (*ddb.UpdateItemOutput, error)) (*ddb.UpdateItemOutput, error)
}

func (h hookedAPI) UpdateItem(ctx context.Context, in *ddb.UpdateItemInput, optFns ...func(*ddb.Options)) (*ddb.UpdateItemOutput, error) {
	return h.update(ctx, in, func(ctx context.Context) (*ddb.UpdateItemOutput, error) {
		return h.LeaseAPI.UpdateItem(ctx, in, optFns...)
	})
}

// write is which of the manager's writes an UpdateItem is.
type write string

const (
	writeTrack   write = "track"
	writeTake    write = "take"
	writeRenew   write = "renew"
	writeRelease write = "release"
)

func writeOf(in *ddb.UpdateItemInput) write {
	switch {
	case in.ConditionExpression == nil:
		return writeTrack
	case in.ReturnValues == types.ReturnValueAllNew:
		return writeTake
	case strings.Contains(aws.ToString(in.UpdateExpression), "REMOVE"):
		return writeRelease
	}
	return writeRenew
}

// shardOf is the shard an UpdateItem writes.
func shardOf(in *ddb.UpdateItemInput) string {
	return strings.TrimPrefix(attrString(in.Key, attrSK), shardSortKey(""))
}

// within fails the test unless ch receives within a generous deadline (a condition the
// test waits for, never a pause).
func within[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(time.Minute):
		t.Fatalf("gave up after a minute waiting for %s", what)
	}
	var zero T
	return zero
}
