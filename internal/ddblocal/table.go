package ddblocal

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Key is one key attribute: a name and S, N or B.
type Key struct {
	Name string
	Type types.ScalarAttributeType
}

// Index describes a secondary index. For a local index PartitionKey may stay zero (it must
// be the table's anyway).
type Index struct {
	Name         string
	PartitionKey Key
	SortKey      Key                  // zero: none (global indexes only; a local index needs one)
	Projection   types.ProjectionType // zero: ALL
}

// TableOptions shapes a table made by CreateTable. The zero value is the common case: a
// composite key pk (S) + sk (S) with a NEW_AND_OLD_IMAGES stream.
type TableOptions struct {
	// NamePrefix starts the table name; zero: derived from the test's name. A counter is
	// appended, so names never collide within a test binary.
	NamePrefix string
	// PartitionKey zero: {pk, S}.
	PartitionKey Key
	// SortKey zero: {sk, S}, unless NoSortKey.
	SortKey   Key
	NoSortKey bool
	// StreamView zero: NEW_AND_OLD_IMAGES, unless NoStream.
	StreamView types.StreamViewType
	NoStream   bool

	GlobalIndexes []Index
	LocalIndexes  []Index
}

var tableSeq atomic.Int64

// CreateTable creates an on-demand table shaped by opts, waits until it is ACTIVE and
// registers a cleanup that deletes it. It returns the table's name.
func CreateTable(t testing.TB, db *dynamodb.Client, opts TableOptions) string {
	t.Helper()
	prefix := opts.NamePrefix
	if prefix == "" {
		prefix = t.Name()
	}
	name := tableName(prefix, tableSeq.Add(1))
	in, err := createTableInput(name, opts)
	if err != nil {
		t.Fatalf("ddblocal.CreateTable: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := db.CreateTable(ctx, in); err != nil {
		t.Fatalf("create table %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, err := db.DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: aws.String(name)})
		var notFound *types.ResourceNotFoundException
		if err != nil && !errors.As(err, &notFound) {
			t.Errorf("delete table %s: %v", name, err)
		}
	})
	waiter := dynamodb.NewTableExistsWaiter(db, func(o *dynamodb.TableExistsWaiterOptions) {
		o.MinDelay = 50 * time.Millisecond
		o.MaxDelay = time.Second
	})
	if err := waiter.Wait(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(name)}, 30*time.Second); err != nil {
		t.Fatalf("wait for table %s to be ACTIVE: %v", name, err)
	}
	return name
}

// StreamARN returns the table's latest stream ARN, failing the test if it has none.
func StreamARN(t testing.TB, db *dynamodb.Client, table string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := db.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)})
	if err != nil {
		t.Fatalf("describe table %s: %v", table, err)
	}
	if out.Table.LatestStreamArn == nil {
		t.Fatalf("table %s has no stream", table)
	}
	return *out.Table.LatestStreamArn
}

// tableName makes a valid, unique name: [a-zA-Z0-9_.-], 3 to 255 characters.
func tableName(prefix string, seq int64) string {
	clean := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_', r == '.', r == '-':
			return r
		default:
			return '-'
		}
	}, prefix)
	suffix := fmt.Sprintf("-%d", seq)
	if max := 255 - len(suffix); len(clean) > max {
		clean = clean[:max]
	}
	name := clean + suffix
	for len(name) < 3 {
		name = "t" + name
	}
	return name
}

// createTableInput is pure so its defaults are tested without DynamoDB Local.
func createTableInput(name string, opts TableOptions) (*dynamodb.CreateTableInput, error) {
	defs := attributeDefinitions{}
	pk := orDefault(opts.PartitionKey, Key{Name: "pk", Type: types.ScalarAttributeTypeS})
	schema, err := defs.keySchema(pk, opts.SortKey, !opts.NoSortKey, Key{Name: "sk", Type: types.ScalarAttributeTypeS})
	if err != nil {
		return nil, err
	}
	in := &dynamodb.CreateTableInput{
		TableName:   aws.String(name),
		KeySchema:   schema,
		BillingMode: types.BillingModePayPerRequest,
	}
	if !opts.NoStream {
		view := opts.StreamView
		if view == "" {
			view = types.StreamViewTypeNewAndOldImages
		}
		in.StreamSpecification = &types.StreamSpecification{StreamEnabled: aws.Bool(true), StreamViewType: view}
	}
	for _, ix := range opts.GlobalIndexes {
		if ix.PartitionKey.Name == "" {
			return nil, fmt.Errorf("global index %q needs a partition key", ix.Name)
		}
		ks, err := defs.keySchema(ix.PartitionKey, ix.SortKey, ix.SortKey.Name != "", Key{})
		if err != nil {
			return nil, fmt.Errorf("global index %q: %w", ix.Name, err)
		}
		in.GlobalSecondaryIndexes = append(in.GlobalSecondaryIndexes, types.GlobalSecondaryIndex{
			IndexName: aws.String(ix.Name), KeySchema: ks, Projection: projection(ix.Projection),
		})
	}
	for _, ix := range opts.LocalIndexes {
		if ix.SortKey.Name == "" {
			return nil, fmt.Errorf("local index %q needs a sort key", ix.Name)
		}
		ks, err := defs.keySchema(orDefault(ix.PartitionKey, pk), ix.SortKey, true, Key{})
		if err != nil {
			return nil, fmt.Errorf("local index %q: %w", ix.Name, err)
		}
		in.LocalSecondaryIndexes = append(in.LocalSecondaryIndexes, types.LocalSecondaryIndex{
			IndexName: aws.String(ix.Name), KeySchema: ks, Projection: projection(ix.Projection),
		})
	}
	in.AttributeDefinitions = defs.list
	return in, nil
}

// orDefault returns def for a zero key, and k with its type defaulted to S otherwise.
func orDefault(k, def Key) Key {
	if k.Name == "" {
		return def
	}
	if k.Type == "" {
		k.Type = types.ScalarAttributeTypeS
	}
	return k
}

func projection(p types.ProjectionType) *types.Projection {
	if p == "" {
		p = types.ProjectionTypeAll
	}
	return &types.Projection{ProjectionType: p}
}

// attributeDefinitions collects each key attribute once, refusing one name with two types.
type attributeDefinitions struct {
	list []types.AttributeDefinition
}

func (d *attributeDefinitions) add(k Key) error {
	for _, def := range d.list {
		if *def.AttributeName == k.Name {
			if def.AttributeType != k.Type {
				return fmt.Errorf("attribute %s declared as both %s and %s", k.Name, def.AttributeType, k.Type)
			}
			return nil
		}
	}
	d.list = append(d.list, types.AttributeDefinition{AttributeName: aws.String(k.Name), AttributeType: k.Type})
	return nil
}

func (d *attributeDefinitions) keySchema(hash, sort Key, withSort bool, defaultSort Key) ([]types.KeySchemaElement, error) {
	hash = orDefault(hash, Key{})
	if err := d.add(hash); err != nil {
		return nil, err
	}
	schema := []types.KeySchemaElement{{AttributeName: aws.String(hash.Name), KeyType: types.KeyTypeHash}}
	if !withSort {
		return schema, nil
	}
	sort = orDefault(sort, defaultSort)
	if err := d.add(sort); err != nil {
		return nil, err
	}
	return append(schema, types.KeySchemaElement{AttributeName: aws.String(sort.Name), KeyType: types.KeyTypeRange}), nil
}
