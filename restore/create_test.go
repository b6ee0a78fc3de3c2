package restore

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/ddbtape/ddbtape/writer"
)

// creatingTable is a table DynamoDB creates until active is closed, written with the
// fakeBatchWriter.
type creatingTable struct {
	*fakeBatchWriter
	active      chan struct{}
	created     atomic.Bool
	earlyWrites atomic.Int32 // BatchWriteItem calls before the table was ACTIVE
}

func (c *creatingTable) isActive() bool {
	select {
	case <-c.active:
		return true
	default:
		return false
	}
}

func (c *creatingTable) CreateTable(context.Context, *dynamodb.CreateTableInput, ...func(*dynamodb.Options)) (*dynamodb.CreateTableOutput, error) {
	if !c.created.CompareAndSwap(false, true) {
		return nil, &types.ResourceInUseException{Message: aws.String("exists")}
	}
	return &dynamodb.CreateTableOutput{}, nil
}

func (c *creatingTable) DescribeTable(_ context.Context, in *dynamodb.DescribeTableInput, _ ...func(*dynamodb.Options)) (*dynamodb.DescribeTableOutput, error) {
	status := types.TableStatusCreating
	if c.isActive() {
		status = types.TableStatusActive
	}
	return &dynamodb.DescribeTableOutput{Table: &types.TableDescription{TableName: in.TableName, TableStatus: status}}, nil
}

func (c *creatingTable) BatchWriteItem(ctx context.Context, in *dynamodb.BatchWriteItemInput, o ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error) {
	if !c.isActive() {
		c.earlyWrites.Add(1)
	}
	return c.fakeBatchWriter.BatchWriteItem(ctx, in, o...)
}

func (c *creatingTable) Scan(context.Context, *dynamodb.ScanInput, ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error) {
	return nil, errors.New("a new table is not scanned")
}

// countingReader counts the snapshot items it hands out.
type countingReader struct {
	*partReader
	read atomic.Int64
}

func (r *countingReader) ReadPart(ctx context.Context, table string, part writer.ManifestPart, fn func(writer.SnapshotItem) error) error {
	return r.partReader.ReadPart(ctx, table, part, func(it writer.SnapshotItem) error {
		r.read.Add(1)
		return fn(it)
	})
}

// TestTable_ReadingTheBackupOverlapsTheTableCreation checks that Create returns once
// DynamoDB accepted the table: the backup is read and merged while the table is
// CREATING, and the first write waits until it is ACTIVE.
func TestTable_ReadingTheBackupOverlapsTheTableCreation(t *testing.T) {
	var items []writer.SnapshotItem
	for i := range 100 {
		items = append(items, snapItem(fmt.Sprintf("k%03d", i), "v"))
	}
	p, pr := snapshotPlan(items[:50], items[50:])
	p.Snapshot.Manifest.KeySchema = []writer.KeyElement{{AttributeName: "pk", KeyType: "HASH"}}
	p.Snapshot.Manifest.AttributeDefinitions = []writer.AttributeDefinition{{AttributeName: "pk", AttributeType: "S"}}
	api := &creatingTable{fakeBatchWriter: &fakeBatchWriter{items: map[string]bool{}}, active: make(chan struct{})}
	tbl, err := NewTable(api, "t", p.Snapshot.Manifest, LoadOptions{Workers: 2, sleep: noSleep})
	if err != nil {
		t.Fatal(err)
	}
	created := make(chan error, 1)
	go func() { created <- tbl.Create(t.Context()) }()
	select {
	case err := <-created:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		close(api.active)
		t.Fatal("Create waited for the table to become ACTIVE")
	}
	r := &countingReader{partReader: pr}
	done := make(chan error, 1)
	go func() {
		_, err := Run(t.Context(), p, tbl, Options{Reader: r, TempDir: t.TempDir()})
		done <- err
	}()
	deadline := time.Now().Add(30 * time.Second)
	for r.read.Load() < 100 {
		if time.Now().After(deadline) {
			t.Fatalf("read %d of 100 items while the table is created, want all", r.read.Load())
		}
		time.Sleep(5 * time.Millisecond)
	}
	close(api.active)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := api.earlyWrites.Load(); n != 0 {
		t.Errorf("%d BatchWriteItem calls before the table was ACTIVE", n)
	}
	if len(api.items) != 100 {
		t.Errorf("table holds %d items, want 100", len(api.items))
	}
}
