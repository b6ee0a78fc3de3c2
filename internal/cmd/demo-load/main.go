// Command demo-load creates a stream-enabled demo table in DynamoDB Local (or any
// endpoint) and writes random items of every attribute type to it. scripts/demo.sh uses it;
// it is not part of ddbtape.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go/logging"

	"github.com/ddbtape/ddbtape/internal/workload"
)

func main() {
	endpoint := flag.String("endpoint-url", "", "DynamoDB endpoint")
	table := flag.String("table", "demo-orders", "table to create and write to")
	writes := flag.Int("writes", 500, "number of random puts, updates and deletes")
	seed := flag.Uint64("seed", uint64(time.Now().UnixNano()), "random seed")
	flag.Parse()
	if err := run(context.Background(), *endpoint, *table, *writes, *seed); err != nil {
		fmt.Fprintln(os.Stderr, "demo-load:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, endpoint, table string, writes int, seed uint64) error {
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return err
	}
	// DynamoDB Local's error answers fail the SDK's CRC check; the warning is noise here.
	cfg.Logger = logging.Nop{}
	db := dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) {
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
		}
	})
	_, err = db.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:            &table,
		BillingMode:          types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: types.ScalarAttributeTypeS}, {AttributeName: aws.String("sk"), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash}, {AttributeName: aws.String("sk"), KeyType: types.KeyTypeRange}},
		StreamSpecification:  &types.StreamSpecification{StreamEnabled: aws.Bool(true), StreamViewType: types.StreamViewTypeNewAndOldImages},
	})
	var inUse *types.ResourceInUseException
	switch {
	case errors.As(err, &inUse):
	case err != nil:
		return fmt.Errorf("create table %s: %w", table, err)
	default:
		if err := dynamodb.NewTableExistsWaiter(db).Wait(ctx, &dynamodb.DescribeTableInput{TableName: &table}, time.Minute); err != nil {
			return err
		}
		fmt.Printf("created table %s with a NEW_AND_OLD_IMAGES stream\n", table)
	}
	w := workload.New(db, table, seed, 200)
	if err := w.Run(ctx, writes); err != nil {
		return err
	}
	fmt.Printf("wrote %d random puts, updates and deletes to %s\n", writes, table)
	return nil
}
