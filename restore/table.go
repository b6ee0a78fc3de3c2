package restore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/ddbtape/ddbtape/replay"
	"github.com/ddbtape/ddbtape/writer"
)

// ErrTableExists means --create was asked for a table that exists already. Restore into it
// without --create (it is made equal to the state at T), or pick another name.
var ErrTableExists = errors.New("target table exists already: drop --create to restore into it, or choose another name")

// TableAPI is the part of the DynamoDB client that creating a table uses.
type TableAPI interface {
	CreateTable(ctx context.Context, in *dynamodb.CreateTableInput, optFns ...func(*dynamodb.Options)) (*dynamodb.CreateTableOutput, error)
	DescribeTable(ctx context.Context, in *dynamodb.DescribeTableInput, optFns ...func(*dynamodb.Options)) (*dynamodb.DescribeTableOutput, error)
}

// createTableInput recreates the table a manifest describes under name: key schema,
// attribute definitions, secondary indexes, billing mode and throughput. It has no stream:
// a restored table is not a capture source until someone enables one.
func createTableInput(name string, m *writer.Manifest) (*dynamodb.CreateTableInput, error) {
	if len(m.KeySchema) == 0 || len(m.AttributeDefinitions) == 0 {
		return nil, fmt.Errorf("snapshot %s: manifest has no key schema or attribute definitions", m.SnapshotID)
	}
	in := &dynamodb.CreateTableInput{
		TableName:            aws.String(name),
		KeySchema:            keySchema(m.KeySchema),
		BillingMode:          types.BillingModePayPerRequest,
		AttributeDefinitions: make([]types.AttributeDefinition, len(m.AttributeDefinitions)),
	}
	for i, d := range m.AttributeDefinitions {
		in.AttributeDefinitions[i] = types.AttributeDefinition{AttributeName: aws.String(d.AttributeName), AttributeType: types.ScalarAttributeType(d.AttributeType)}
	}
	provisioned := m.BillingMode == string(types.BillingModeProvisioned)
	if provisioned {
		in.BillingMode = types.BillingModeProvisioned
		in.ProvisionedThroughput = throughput(m.ReadCapacityUnits, m.WriteCapacityUnits)
	}
	for _, ix := range m.GlobalSecondaryIndexes {
		g := types.GlobalSecondaryIndex{IndexName: aws.String(ix.IndexName), KeySchema: keySchema(ix.KeySchema), Projection: projection(ix)}
		if provisioned {
			g.ProvisionedThroughput = throughput(ix.ReadCapacityUnits, ix.WriteCapacityUnits)
		}
		in.GlobalSecondaryIndexes = append(in.GlobalSecondaryIndexes, g)
	}
	for _, ix := range m.LocalSecondaryIndexes {
		in.LocalSecondaryIndexes = append(in.LocalSecondaryIndexes, types.LocalSecondaryIndex{IndexName: aws.String(ix.IndexName), KeySchema: keySchema(ix.KeySchema), Projection: projection(ix)})
	}
	return in, nil
}

func keySchema(ks []writer.KeyElement) []types.KeySchemaElement {
	out := make([]types.KeySchemaElement, len(ks))
	for i, k := range ks {
		out[i] = types.KeySchemaElement{AttributeName: aws.String(k.AttributeName), KeyType: types.KeyType(k.KeyType)}
	}
	return out
}

func projection(ix writer.SecondaryIndex) *types.Projection {
	p := &types.Projection{ProjectionType: types.ProjectionType(ix.ProjectionType)}
	if p.ProjectionType == "" {
		p.ProjectionType = types.ProjectionTypeAll
	}
	if len(ix.NonKeyAttributes) > 0 {
		p.NonKeyAttributes = ix.NonKeyAttributes
	}
	return p
}

// throughput keeps a provisioned table creatable when the manifest lacks capacities.
func throughput(rcu, wcu int64) *types.ProvisionedThroughput {
	return &types.ProvisionedThroughput{ReadCapacityUnits: aws.Int64(max(rcu, 1)), WriteCapacityUnits: aws.Int64(max(wcu, 1))}
}

// createTable asks DynamoDB to create the table; a table of that name is ErrTableExists.
func createTable(ctx context.Context, api TableAPI, in *dynamodb.CreateTableInput) error {
	if _, err := api.CreateTable(ctx, in); err != nil {
		var inUse *types.ResourceInUseException
		if errors.As(err, &inUse) {
			return fmt.Errorf("create table %s: %w", aws.ToString(in.TableName), ErrTableExists)
		}
		return fmt.Errorf("create table %s: %w", aws.ToString(in.TableName), err)
	}
	return nil
}

// waitActive waits until the table being created and its indexes are ACTIVE.
func waitActive(ctx context.Context, api TableAPI, in *dynamodb.CreateTableInput, wait time.Duration) error {
	name := aws.ToString(in.TableName)
	waiter := dynamodb.NewTableExistsWaiter(api, func(o *dynamodb.TableExistsWaiterOptions) {
		o.MinDelay, o.MaxDelay = 200*time.Millisecond, 5*time.Second
	})
	if err := waiter.Wait(ctx, &dynamodb.DescribeTableInput{TableName: in.TableName}, wait); err != nil {
		return fmt.Errorf("wait for table %s to become ACTIVE: %w", name, err)
	}
	return nil
}

// KeyNames returns the key attribute names of a manifest, partition key first.
func KeyNames(m *writer.Manifest) []string {
	var names []string
	for _, kt := range []string{"HASH", "RANGE"} {
		for _, k := range m.KeySchema {
			if k.KeyType == kt {
				names = append(names, k.AttributeName)
			}
		}
	}
	return names
}

// KeysFilter keeps the keys listed in r, one per line as DynamoDB JSON, of the table
// whose backup manifest m describes (replay.ParseKeys).
func KeysFilter(m *writer.Manifest, r io.Reader) (*replay.KeyFilter, error) {
	return replay.ParseKeys(r, KeyNames(m))
}

// PrefixFilter keeps the items whose partition key starts with prefix; the partition key
// must be a string.
func PrefixFilter(m *writer.Manifest, prefix string) (*replay.KeyFilter, error) {
	pk := KeyNames(m)[0]
	for _, d := range m.AttributeDefinitions {
		if d.AttributeName == pk && d.AttributeType != "S" {
			return nil, fmt.Errorf("needs a string partition key; %s is of type %s", pk, d.AttributeType)
		}
	}
	return replay.PrefixFilter(pk, prefix), nil
}

// ErrKeySchema means a table's key is not the backup's.
var ErrKeySchema = errors.New("another key schema than the backup")

// DescribeAPI is the DynamoDB call that reads a table's description.
type DescribeAPI interface {
	DescribeTable(ctx context.Context, in *dynamodb.DescribeTableInput, optFns ...func(*dynamodb.Options)) (*dynamodb.DescribeTableOutput, error)
}

// CheckKeySchema makes sure the existing table name has the key of manifest m, and returns
// the key attribute names. Writing items of another key shape would fail item by item or,
// worse, land under keys nobody expects; comparing them would find every item different.
// A table of another key is an error wrapping ErrKeySchema.
func CheckKeySchema(ctx context.Context, api DescribeAPI, name string, m *writer.Manifest) ([]string, error) {
	out, err := api.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(name)})
	if err != nil {
		return nil, fmt.Errorf("describe table %s: %w", name, err)
	}
	have := map[string]string{}
	for _, k := range out.Table.KeySchema {
		have[aws.ToString(k.AttributeName)] = string(k.KeyType)
	}
	want := map[string]string{}
	for _, k := range m.KeySchema {
		want[k.AttributeName] = k.KeyType
	}
	same := len(have) == len(want)
	for n, kt := range want {
		same = same && have[n] == kt
	}
	if !same {
		return nil, fmt.Errorf("table %s has %w of %s", name, ErrKeySchema, m.TableName)
	}
	return KeyNames(m), nil
}
