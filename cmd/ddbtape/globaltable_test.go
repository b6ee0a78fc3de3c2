package main

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/ddbtape/ddbtape/checkpoint"
	"github.com/ddbtape/ddbtape/globaltable"
	"github.com/ddbtape/ddbtape/internal/backuptest"
	"github.com/ddbtape/ddbtape/internal/ddblocal"
	"github.com/ddbtape/ddbtape/storage/dir"
	"github.com/ddbtape/ddbtape/writer"
)

// repItem is an item of a legacy (2017.11.29) global table: it carries the replication
// attributes DynamoDB keeps in every item.
func repItem(pk string, v int) string {
	return fmt.Sprintf(`{"pk":{"S":%q},"v":{"N":"%d"},"aws:rep:deleting":{"BOOL":false},"aws:rep:updatetime":{"N":"1772359200.%06d"},"aws:rep:updateregion":{"S":"us-east-1"}}`, pk, v, v)
}

// legacyBackup writes a backup of "books", a legacy global table replicated to two
// regions: a snapshot of g0..g2 (10:00 to 10:01) and g1 modified at 10:10, covered until
// 11:00; every item carries aws:rep:* attributes.
func legacyBackup(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	root := t.TempDir()
	bucket, err := dir.New(root)
	if err != nil {
		t.Fatal(err)
	}
	b := &backuptest.Builder{Bucket: bucket, Table: "books", SpoolDir: t.TempDir(), Shape: func(m *writer.Manifest) {
		m.Region, m.GlobalTableVersion, m.Replicas = "us-east-1", globaltable.Version2017, []string{"eu-west-1", "us-east-1"}
	}}
	if _, err := b.Snapshot(ctx, "snap-1", fixtureT0, fixtureT0.Add(time.Minute), 3, 2, func(i int) writer.SnapshotItem {
		pk := fmt.Sprint("g", i)
		return writer.SnapshotItem{Keys: fmt.Sprintf(`{"pk":{"S":%q}}`, pk), Item: repItem(pk, 0)}
	}); err != nil {
		t.Fatal(err)
	}
	c := bookChange("books", 10, fixtureT0.Add(10*time.Minute), "MODIFY", "g1", 1)
	img := repItem("g1", 1)
	c.NewImage = &img
	if _, err := b.Segment(ctx, []writer.Change{c}); err != nil {
		t.Fatal(err)
	}
	if err := b.Checkpoint(ctx, []checkpoint.Position{{StreamARN: fixtureStream, ShardID: "shardId-1", CoveredFrom: fixtureT0.Add(-time.Hour),
		CoveredUntil: fixtureT0.Add(time.Hour), SequenceNumber: "10", LastRecordTime: fixtureT0.Add(10 * time.Minute)}}); err != nil {
		t.Fatal(err)
	}
	return root
}

func TestRestore_DropsLegacyReplicationAttributesUnlessAsked(t *testing.T) {
	src := legacyBackup(t)
	out := filepath.Join(t.TempDir(), "items.json")
	res := runCLI(t, "restore", "--source", src, "--table", "books", "--at", "latest", "--to-file", out)
	if res.code != 0 {
		t.Fatalf("exit %d: %s", res.code, res.stderr)
	}
	if got, want := readItems(t, out), wantLines("g0", 0, "g1", 1, "g2", 0); !slices.Equal(got, want) {
		t.Errorf("restored\n%v\nwant, without aws:rep:*,\n%v", got, want)
	}
	if !strings.Contains(res.stderr, "dropped the aws:rep:* replication attributes of a legacy global table (version 2017.11.29) from 3 items (--keep-replication-attributes keeps them)") {
		t.Errorf("stderr does not say what was dropped: %s", res.stderr)
	}

	kept := filepath.Join(t.TempDir(), "kept.json")
	res = runCLI(t, "restore", "--source", src, "--table", "books", "--at", "latest", "--to-file", kept, "--keep-replication-attributes")
	if res.code != 0 {
		t.Fatalf("--keep-replication-attributes: exit %d: %s", res.code, res.stderr)
	}
	got := readItems(t, kept)
	if len(got) != 3 || !strings.Contains(got[1], `"aws:rep:updatetime":{"N":"1772359200.000001"}`) || strings.Contains(res.stderr, "dropped") {
		t.Errorf("with --keep-replication-attributes: %v (stderr %s)", got, res.stderr)
	}

	// status names the region and the global table.
	st := runCLI(t, "status", "--source", src, "--table", "books")
	for _, s := range []string{"region: us-east-1", "global table (version 2017.11.29, replicas eu-west-1, us-east-1): the backup holds the stream of region us-east-1"} {
		if !strings.Contains(st.stdout, s) {
			t.Errorf("status lacks %q:\n%s", s, st.stdout)
		}
	}
}

// TestRestore_AGlobalTableIntoANewSingleRegionTable restores the backup of a global table
// with --create into DynamoDB Local: a single-region table without the replication
// attributes, and the command says how to add replicas.
func TestRestore_AGlobalTableIntoANewSingleRegionTable(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	db := ddblocal.Shared(t).DynamoDB()
	src := legacyBackup(t)
	target := fmt.Sprintf("books-single-%d", time.Now().UnixNano())
	res := ddbtape(ctx, t, nil, "restore", "--source", src, "--table", "books", "--at", "latest", "--to-table", target, "--create")
	if res.code != 0 {
		t.Fatalf("exit %d: %s", res.code, res.stderr)
	}
	t.Cleanup(func() {
		_, _ = db.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: aws.String(target)})
	})
	items := scanTable(t, db, target)
	if len(items) != 3 || items["g1"] != `{"pk":{"S":"g1"},"v":{"N":"1"}}` || strings.Contains(items["g0"], "aws:rep") {
		t.Errorf("restored table holds %v, want g0..g2 without aws:rep:*", items)
	}
	out, err := db.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(target)})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Table.Replicas) != 0 || out.Table.GlobalTableVersion != nil {
		t.Errorf("the new table has replicas %v, version %v; want a single-region table", out.Table.Replicas, aws.ToString(out.Table.GlobalTableVersion))
	}
	want := "books was a global table (version 2017.11.29, replicas eu-west-1, us-east-1); " + target + " is a single-region table: add replicas with aws dynamodb update-table --table-name " + target
	if !strings.Contains(res.stderr, want) {
		t.Errorf("stderr lacks %q:\n%s", want, res.stderr)
	}
}
