package main

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/ddbtape/ddbtape/ddbjson"
	"github.com/ddbtape/ddbtape/internal/ddblocal"
	"github.com/ddbtape/ddbtape/writer"
)

// scanTable returns every item of table as canonical DynamoDB JSON, by partition key.
func scanTable(t *testing.T, db *dynamodb.Client, table string) map[string]string {
	t.Helper()
	out := map[string]string{}
	p := dynamodb.NewScanPaginator(db, &dynamodb.ScanInput{TableName: aws.String(table), ConsistentRead: aws.Bool(true)})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatalf("scan %s: %v", table, err)
		}
		for _, it := range page.Items {
			s, err := ddbjson.FromDynamoDB(it)
			if err != nil {
				t.Fatal(err)
			}
			c, err := ddbjson.Canonical(s)
			if err != nil {
				t.Fatal(err)
			}
			out[it["pk"].(*types.AttributeValueMemberS).Value] = c
		}
	}
	return out
}

func books(kv ...any) map[string]string {
	m := map[string]string{}
	for i := 0; i < len(kv); i += 2 {
		m[kv[i].(string)] = bookItem(kv[i].(string), kv[i+1].(int))
	}
	return m
}

var (
	booksAt1010 = books("a0", 0, "a1", 1, "a2", 0, "a3", 0, "a4", 0, "b0", 0, "b1", 0, "b2", 0, "b3", 0, "b4", 0)
	booksLatest = books("a0", 0, "a1", 1, "a3", 0, "a4", 0, "b0", 0, "b1", 0, "b2", 0, "b3", 0, "b4", 0, "c0", 7)
)

func putBook(t *testing.T, db *dynamodb.Client, table, item string) {
	t.Helper()
	it, err := ddbjson.ToDynamoDB(item)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.PutItem(context.Background(), &dynamodb.PutItemInput{TableName: aws.String(table), Item: it}); err != nil {
		t.Fatal(err)
	}
}

func TestRestoreToTable_CreatesLoadsDiffsAndSyncs(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	db := ddblocal.Shared(t).DynamoDB()
	src := bookBackupOf(t, "books", func(m *writer.Manifest) {
		m.AttributeDefinitions = append(m.AttributeDefinitions, writer.AttributeDefinition{AttributeName: "v", AttributeType: "N"})
		m.GlobalSecondaryIndexes = []writer.SecondaryIndex{{IndexName: "by-v", KeySchema: []writer.KeyElement{{AttributeName: "v", KeyType: "HASH"}}, ProjectionType: "KEYS_ONLY"}}
	})
	target := fmt.Sprintf("restored-%d", time.Now().UnixNano())
	t.Cleanup(func() {
		db.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: aws.String(target)})
	})

	// A new table, as of 10:10.
	res := ddbtape(ctx, t, nil, "restore", "--source", src, "--table", "books", "--at", "2026-03-01T10:10:00Z", "--to-table", target, "--create")
	if res.code != 0 {
		t.Fatalf("--create: exit %d: %s", res.code, res.stderr)
	}
	if got := scanTable(t, db, target); !maps.Equal(got, booksAt1010) {
		t.Fatalf("created table holds %v, want %v", got, booksAt1010)
	}
	desc, err := db.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(target)})
	if err != nil {
		t.Fatal(err)
	}
	tb := desc.Table
	if tb.StreamSpecification != nil && aws.ToBool(tb.StreamSpecification.StreamEnabled) {
		t.Errorf("restored table has a stream")
	}
	if len(tb.KeySchema) != 1 || aws.ToString(tb.KeySchema[0].AttributeName) != "pk" || len(tb.GlobalSecondaryIndexes) != 1 || aws.ToString(tb.GlobalSecondaryIndexes[0].IndexName) != "by-v" {
		t.Errorf("restored table shape: keys %+v, indexes %+v", tb.KeySchema, tb.GlobalSecondaryIndexes)
	}

	// --create again: the table exists.
	res = ddbtape(ctx, t, nil, "restore", "--source", src, "--table", "books", "--at", "latest", "--to-table", target, "--create")
	if res.code != 1 || !strings.Contains(res.stderr, "exists already") {
		t.Errorf("--create on an existing table: exit %d: %s", res.code, res.stderr)
	}

	// Someone changes the table; a dry run shows what a restore to 10:10 would do.
	putBook(t, db, target, bookItem("zz", 9))
	putBook(t, db, target, bookItem("b1", 5))
	if _, err := db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(target), Key: map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: "a0"}}}); err != nil {
		t.Fatal(err)
	}
	before := scanTable(t, db, target)
	res = ddbtape(ctx, t, nil, "restore", "--source", src, "--table", "books", "--at", "2026-03-01T10:10:00Z", "--to-table", target, "--dry-run", "--diff")
	if res.code != 0 {
		t.Fatalf("--dry-run: exit %d: %s", res.code, res.stderr)
	}
	lines := strings.Split(strings.TrimSpace(res.stdout), "\n")
	slices.Sort(lines[:len(lines)-1])
	want := []string{`+ {"pk":{"S":"a0"}}`, `- {"pk":{"S":"zz"}}`, `~ {"pk":{"S":"b1"}}`, "dry run: 2 puts (1 new, 1 changed), 1 delete, 8 unchanged"}
	if !slices.Equal(lines, want) {
		t.Errorf("--dry-run --diff printed\n%s\nwant\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
	if after := scanTable(t, db, target); !maps.Equal(after, before) {
		t.Errorf("--dry-run changed the table")
	}

	// Into the existing table without --yes: the plan, nothing written, exit 2.
	res = ddbtape(ctx, t, nil, "restore", "--source", src, "--table", "books", "--at", "latest", "--to-table", target)
	if res.code != 2 || !strings.Contains(res.stdout, "3 puts (2 new, 1 changed), 2 deletes, 7 unchanged") || !strings.Contains(res.stderr, "--yes") {
		t.Errorf("without --yes: exit %d, want 2\nstdout %s\nstderr %s", res.code, res.stdout, res.stderr)
	}
	if after := scanTable(t, db, target); !maps.Equal(after, before) {
		t.Errorf("a restore without --yes changed the table")
	}

	// With --yes: it becomes the latest state.
	res = ddbtape(ctx, t, nil, "restore", "--source", src, "--table", "books", "--at", "latest", "--to-table", target, "--max-wcu", "1000", "--yes")
	if res.code != 0 {
		t.Fatalf("into the existing table: exit %d: %s", res.code, res.stderr)
	}
	if got := scanTable(t, db, target); !maps.Equal(got, booksLatest) {
		t.Errorf("synced table holds %v, want %v", got, booksLatest)
	}
	if !strings.Contains(res.stdout, "3 puts, 2 deletes, 7 unchanged, 0 conflicts (guarded)") {
		t.Errorf("stdout %q", res.stdout)
	}

	// Only some keys: the rest of the table is left alone.
	putBook(t, db, target, bookItem("b2", 3))
	putBook(t, db, target, bookItem("b3", 3))
	res = ddbtape(ctx, t, nil, "restore", "--source", src, "--table", "books", "--at", "latest", "--to-table", target, "--key-prefix", "a", "--yes", "--unguarded")
	if res.code != 0 {
		t.Fatalf("--key-prefix: exit %d: %s", res.code, res.stderr)
	}
	wantPartial := maps.Clone(booksLatest)
	wantPartial["b2"], wantPartial["b3"] = bookItem("b2", 3), bookItem("b3", 3)
	if got := scanTable(t, db, target); !maps.Equal(got, wantPartial) {
		t.Errorf("after --key-prefix a: %v, want %v", got, wantPartial)
	}
}

func TestVerify_PassesOnAMatchingTableAndFailsAfterAnUnseenWrite(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	db := ddblocal.Shared(t).DynamoDB()
	table := ddblocal.CreateTable(t, db, ddblocal.TableOptions{NoSortKey: true, NoStream: true})
	src := bookBackupOf(t, table, nil)
	for _, it := range booksLatest {
		putBook(t, db, table, it)
	}
	res := ddbtape(ctx, t, nil, "verify", "--source", src, "--table", table)
	if res.code != 0 || !strings.Contains(res.stdout, "10 matching, 0 missing from the table, 0 extra in the table, 0 different") {
		t.Fatalf("verify of a matching table: exit %d\nstdout %s\nstderr %s", res.code, res.stdout, res.stderr)
	}
	putBook(t, db, table, bookItem("a3", 42))
	putBook(t, db, table, bookItem("new", 1))
	res = ddbtape(ctx, t, nil, "verify", "--source", src, "--table", table)
	if res.code != 1 || !strings.Contains(res.stdout, "9 matching, 0 missing from the table, 1 extra in the table, 1 different") {
		t.Errorf("verify after unseen writes: exit %d\nstdout %s\nstderr %s", res.code, res.stdout, res.stderr)
	}
	for _, s := range []string{`different {"pk":{"S":"a3"}}`, `extra {"pk":{"S":"new"}}`} {
		if !strings.Contains(res.stdout, s) {
			t.Errorf("stdout lacks %q: %s", s, res.stdout)
		}
	}
	if !strings.Contains(res.stderr, "does not match the table") {
		t.Errorf("stderr %q", res.stderr)
	}
}
