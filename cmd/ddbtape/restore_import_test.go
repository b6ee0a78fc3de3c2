package main

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/ddbtape/ddbtape/internal/ddblocal"
	"github.com/ddbtape/ddbtape/internal/fakeimport"
	"github.com/ddbtape/ddbtape/internal/s3local"
	"github.com/ddbtape/ddbtape/retry"
	"github.com/ddbtape/ddbtape/writer"
)

// importParts are the real and fake parts an import test runs on: versitygw for the
// files, DynamoDB Local for the table, and the fake Import endpoint in front of it.
type importParts struct {
	s3     *s3local.Server
	bucket string
	fake   *fakeimport.Server
	env    []string
}

func startImportParts(ctx context.Context, t *testing.T, before func(s3 *awss3.Client, bucket, prefix string)) importParts {
	t.Helper()
	srv := ownVersitygw(ctx, t)
	ddb := ddblocal.Shared(t)
	opts := fakeimport.Options{DynamoDBEndpoint: ddb.Endpoint, DynamoDB: ddb.DynamoDB(), S3: srv.Client()}
	if before != nil {
		opts.BeforeImport = func(bucket, prefix string) { before(srv.Client(), bucket, prefix) }
	}
	fake, err := fakeimport.Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fake.Close)
	return importParts{s3: srv, bucket: srv.NewBucket(t), fake: fake,
		env: append(srv.Env(), "AWS_ENDPOINT_URL_DYNAMODB="+fake.URL())}
}

func dropTable(t *testing.T, db *dynamodb.Client, name string) {
	t.Cleanup(func() { db.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: aws.String(name)}) })
}

func tableExists(ctx context.Context, t *testing.T, db *dynamodb.Client, name string) bool {
	t.Helper()
	_, err := db.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(name)})
	return err == nil
}

// byGSI gives the books a global index on v, so the import must create it.
func byGSI(m *writer.Manifest) {
	m.AttributeDefinitions = append(m.AttributeDefinitions, writer.AttributeDefinition{AttributeName: "v", AttributeType: "N"})
	m.GlobalSecondaryIndexes = []writer.SecondaryIndex{{IndexName: "by-v", KeySchema: []writer.KeyElement{{AttributeName: "v", KeyType: "HASH"}}, ProjectionType: "ALL"}}
	m.StreamViewType = "NEW_AND_OLD_IMAGES"
}

// --to-table --create --via import: the files go to versitygw, ImportTable (the fake,
// over the real protocol) creates the table in DynamoDB Local with the backup's keys and
// index and loads the files, and the table equals the backup at --at.
func TestRestoreViaImport_CreatesTheTableAsTheBackupWasAtT(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	parts := startImportParts(ctx, t, nil)
	db := ddblocal.Shared(t).DynamoDB()
	src := wideBackupOf(t, 400, byGSI)
	const at = "2026-03-01T10:25:00Z" // after the changes and removals, before the inserts
	want := itemsByPK(fileRestore(t, src, at))
	target := fmt.Sprintf("imported-%d", time.Now().UnixNano())
	dropTable(t, db, target)
	url := "s3://" + parts.bucket + "/restores/1/"
	res := ddbtape(ctx, t, parts.env, "restore", "--source", src, "--table", "books", "--at", at,
		"--to-table", target, "--create", "--via", "import", "--to-s3", url, "--import-poll", "100ms", "--file-size", "1MiB")
	if res.code != 0 {
		t.Fatalf("--via import: exit %d: %s", res.code, res.stderr)
	}
	if got := scanTable(t, db, target); !maps.Equal(got, want) {
		t.Fatalf("the imported table holds %d items, the backup at %s %d (or they differ)", len(got), at, len(want))
	}
	desc, err := db.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(target)})
	if err != nil {
		t.Fatal(err)
	}
	if g := desc.Table.GlobalSecondaryIndexes; len(g) != 1 || aws.ToString(g[0].IndexName) != "by-v" {
		t.Errorf("imported table's indexes: %+v", g)
	}
	for _, w := range []string{fmt.Sprintf("imported %d items of books at 2026-03-01T10:25:00Z into new table %s through Import from S3", len(want), target)} {
		if !strings.Contains(res.stdout, w) {
			t.Errorf("stdout %q lacks %q", res.stdout, w)
		}
	}
	for _, w := range []string{"COMPLETED", "Import from S3 does not carry over", "the stream (NEW_AND_OLD_IMAGES): aws dynamodb update-table --table-name " + target, "time to live", "point-in-time recovery", "tags"} {
		if !strings.Contains(res.stderr, w) {
			t.Errorf("stderr lacks %q:\n%s", w, res.stderr)
		}
	}
	keys := s3Keys(ctx, t, parts.s3.Client(), parts.bucket, "restores/1/")
	if len(keys) < 2 || !strings.HasSuffix(keys[len(keys)-1], "manifest.json") {
		t.Errorf("objects under the prefix: %v", keys)
	}

	// The table exists now: refused before anything is written.
	res = ddbtape(ctx, t, parts.env, "restore", "--source", src, "--table", "books", "--at", at,
		"--to-table", target, "--create", "--via", "import", "--to-s3", "s3://"+parts.bucket+"/restores/2/", "--import-poll", "100ms")
	if res.code != 1 || !strings.Contains(res.stderr, "exists already") || len(s3Keys(ctx, t, parts.s3.Client(), parts.bucket, "restores/2/")) != 0 {
		t.Errorf("into an existing table: exit %d: %s", res.code, res.stderr)
	}
}

// A table with a local secondary index is refused in one line before the backup is read;
// an import that fails (a file the importer cannot read) exits 1 saying why, with no table.
func TestRestoreViaImport_RefusesLocalIndexesAndReportsAFailedImport(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	parts := startImportParts(ctx, t, func(s3 *awss3.Client, bucket, prefix string) {
		out, err := s3.ListObjectsV2(ctx, &awss3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix)})
		if err != nil || len(out.Contents) == 0 {
			t.Errorf("no files to damage under %s: %v", prefix, err)
			return
		}
		if _, err := s3.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String(bucket), Key: out.Contents[0].Key, Body: strings.NewReader("not gzip")}); err != nil {
			t.Errorf("damage %s: %v", aws.ToString(out.Contents[0].Key), err)
		}
	})
	db := ddblocal.Shared(t).DynamoDB()

	lsi := wideBackupOf(t, 50, func(m *writer.Manifest) {
		m.AttributeDefinitions = append(m.AttributeDefinitions, writer.AttributeDefinition{AttributeName: "size", AttributeType: "N"})
		m.LocalSecondaryIndexes = []writer.SecondaryIndex{{IndexName: "by-size", KeySchema: []writer.KeyElement{{AttributeName: "pk", KeyType: "HASH"}, {AttributeName: "size", KeyType: "RANGE"}}, ProjectionType: "KEYS_ONLY"}}
	})
	target := fmt.Sprintf("lsi-%d", time.Now().UnixNano())
	dropTable(t, db, target)
	res := ddbtape(ctx, t, parts.env, "restore", "--source", lsi, "--table", "books", "--at", "latest",
		"--to-table", target, "--create", "--via", "import", "--to-s3", "s3://"+parts.bucket+"/lsi/")
	if res.code != 1 || !strings.Contains(res.stderr, "local secondary indexes (by-size)") || strings.Contains(res.stderr, "read backup") ||
		len(s3Keys(ctx, t, parts.s3.Client(), parts.bucket, "lsi/")) != 0 || tableExists(ctx, t, db, target) {
		t.Errorf("a table with an LSI: exit %d: %s", res.code, res.stderr)
	}

	src := wideBackup(t, 100)
	target = fmt.Sprintf("failed-%d", time.Now().UnixNano())
	dropTable(t, db, target)
	res = ddbtape(ctx, t, parts.env, "restore", "--source", src, "--table", "books", "--at", "latest",
		"--to-table", target, "--create", "--via", "import", "--to-s3", "s3://"+parts.bucket+"/failed/", "--import-poll", "100ms")
	last := strings.TrimSpace(res.stderr)
	last = last[strings.LastIndex(last, "\n")+1:]
	if res.code != 1 || !strings.Contains(last, "failed: InvalidInput") || !strings.Contains(last, "not gzip") || strings.Contains(res.stderr, "goroutine") {
		t.Errorf("a failed import: exit %d, last line %q\n%s", res.code, last, res.stderr)
	}
	if tableExists(ctx, t, db, target) {
		t.Errorf("a failed import left table %s", target)
	}
}

// Three partitions --to-s3 into one prefix on versitygw, then the import command they
// print, run as printed by the aws CLI (with only --endpoint-url added, for the fake
// Import endpoint), which checks its JSON against the real API model: the table it
// creates from every partition's files equals the backup.
func TestRestoreToS3_PartitionsImportedByThePrintedCommandEqualTheBackup(t *testing.T) {
	t.Parallel()
	awsCLI, err := exec.LookPath("aws")
	if err != nil {
		t.Fatalf("the aws CLI is not on PATH (it runs the import command restore prints): install it (pip install awscli, or apt-get install -y awscli)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	parts := startImportParts(ctx, t, nil)
	db := ddblocal.Shared(t).DynamoDB()
	// Every member of the table's shape the command carries, for the CLI to check.
	src := wideBackupOf(t, 300, func(m *writer.Manifest) {
		byGSI(m)
		m.BillingMode, m.ReadCapacityUnits, m.WriteCapacityUnits = "PROVISIONED", 5, 7
		m.GlobalSecondaryIndexes[0].ProjectionType, m.GlobalSecondaryIndexes[0].NonKeyAttributes = "INCLUDE", []string{"note"}
		m.GlobalSecondaryIndexes[0].ReadCapacityUnits, m.GlobalSecondaryIndexes[0].WriteCapacityUnits = 1, 2
		m.SSEType, m.SSEKMSKeyARN = "KMS", "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
	})
	want := itemsByPK(fileRestore(t, src, "latest"))
	url := "s3://" + parts.bucket + "/parts/"
	var command string
	for i := range 3 {
		res := ddbtape(ctx, t, parts.env, "restore", "--source", src, "--table", "books", "--at", "latest", "--to-s3", url, "--partition", fmt.Sprintf("%d/3", i))
		if res.code != 0 {
			t.Fatalf("partition %d/3: exit %d: %s", i, res.code, res.stderr)
		}
		_, cmd, ok := strings.Cut(res.stdout, "import them all with:\n")
		cmd = strings.TrimSpace(cmd)
		if !ok || !strings.HasPrefix(cmd, "aws dynamodb import-table ") || command != "" && cmd != command {
			t.Fatalf("partition %d/3 prints %q, the others %q", i, res.stdout, command)
		}
		command = cmd
	}
	for _, w := range []string{`"BillingMode":"PROVISIONED"`, `"NonKeyAttributes":["note"]`, `"SSESpecification":{"Enabled":true,"SSEType":"KMS","KMSMasterKeyId":"arn:aws:kms:`} {
		if !strings.Contains(command, w) {
			t.Errorf("the command lacks %s: %s", w, command)
		}
	}
	dropTable(t, db, "books-restored")
	run := exec.CommandContext(ctx, "sh", "-c", strings.Replace(command, "aws ", awsCLI+" ", 1)+" --endpoint-url "+parts.fake.URL()+" --output json")
	run.Env = append(os.Environ(), parts.env...)
	run.Env = append(run.Env, "AWS_DEFAULT_REGION="+s3local.Region, "AWS_PAGER=")
	out, err := run.CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", command, err, out)
	}
	var started struct{ ImportTableDescription struct{ ImportArn string } }
	if err := json.Unmarshal(out, &started); err != nil || started.ImportTableDescription.ImportArn == "" {
		t.Fatalf("import-table printed %s (%v)", out, err)
	}
	arn := started.ImportTableDescription.ImportArn
	for {
		d, err := db.DescribeImport(ctx, &dynamodb.DescribeImportInput{ImportArn: aws.String(arn)}, func(o *dynamodb.Options) { o.BaseEndpoint = aws.String(parts.fake.URL()) })
		if err != nil {
			t.Fatal(err)
		}
		if s := d.ImportTableDescription.ImportStatus; s != "IN_PROGRESS" {
			if s != "COMPLETED" || d.ImportTableDescription.ImportedItemCount != int64(len(want)) {
				t.Fatalf("import %s: %s, %d items imported, want %d", arn, s, d.ImportTableDescription.ImportedItemCount, len(want))
			}
			break
		}
		if err := retry.Sleep(ctx, 100*time.Millisecond); err != nil {
			t.Fatal(err)
		}
	}
	if got := scanTable(t, db, "books-restored"); !maps.Equal(got, want) {
		t.Errorf("the table imported from the three partitions' files holds %d items, the backup %d (or they differ)", len(got), len(want))
	}
}
