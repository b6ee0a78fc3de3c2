package restore

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// CreateShared is Create for one partition of a restore into a new table (restore
// --partition I/N --create): the partitions run at once, and any of them may be tried
// again, so whichever comes first creates the table and the others, or a later try, take
// the table as it finds it, once it is ACTIVE and has the backup's key schema. Each
// partition then puts only its own keys, so a partition run twice writes the same items
// twice. created says whether this call made the table. It cannot tell the table another
// partition made from one that was there before, so the table's name must be new.
func (t *Table) CreateShared(ctx context.Context) (created bool, err error) {
	err = t.Create(ctx)
	if !errors.Is(err, ErrTableExists) {
		return err == nil, err
	}
	waiter := dynamodb.NewTableExistsWaiter(t.api, func(o *dynamodb.TableExistsWaiterOptions) {
		o.MinDelay, o.MaxDelay = sharedPoll, 5*sharedPoll
	})
	if err := waiter.Wait(ctx, &dynamodb.DescribeTableInput{TableName: t.create.TableName}, createWait); err != nil {
		return false, fmt.Errorf("wait for table %s, created by another partition, to become ACTIVE: %w", t.name, err)
	}
	out, err := t.api.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: t.create.TableName})
	if err != nil {
		return false, fmt.Errorf("describe table %s: %w", t.name, err)
	}
	if !sameKeySchema(out.Table.KeySchema, t.create.KeySchema) {
		return false, fmt.Errorf("table %s has %w: name a new table for a partitioned restore with --create", t.name, ErrKeySchema)
	}
	return false, nil
}

// sharedPoll is how often a partition looks whether the table another one created is
// ACTIVE yet.
const sharedPoll = 500 * time.Millisecond

func sameKeySchema(a, b []types.KeySchemaElement) bool {
	key := func(ks []types.KeySchemaElement) map[string]types.KeyType {
		m := map[string]types.KeyType{}
		for _, k := range ks {
			m[aws.ToString(k.AttributeName)] = k.KeyType
		}
		return m
	}
	return maps.Equal(key(a), key(b))
}
