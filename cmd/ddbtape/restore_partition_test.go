package main

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"golang.org/x/sync/errgroup"

	"github.com/ddbtape/ddbtape/checkpoint"
	"github.com/ddbtape/ddbtape/internal/backuptest"
	"github.com/ddbtape/ddbtape/internal/ddblocal"
	"github.com/ddbtape/ddbtape/storage/dir"
	"github.com/ddbtape/ddbtape/writer"
)

// wideBackup writes a backup of table books with n items (k0000.. at v=0) in parts of 50,
// then one segment: every third item changed (v=1) at 10:10, every third removed at 10:20,
// n/10 new items (n0000.., v=7) at 10:30; covered until 11:00. It returns the directory.
func wideBackup(t *testing.T, n int) string {
	t.Helper()
	return wideBackupOf(t, n, nil)
}

// wideBackupOf is wideBackup with shape adjusting the manifest (indexes, billing).
func wideBackupOf(t *testing.T, n int, shape func(*writer.Manifest)) string {
	t.Helper()
	ctx := context.Background()
	root := t.TempDir()
	bucket, err := dir.New(root)
	if err != nil {
		t.Fatal(err)
	}
	b := &backuptest.Builder{Bucket: bucket, Table: "books", SpoolDir: t.TempDir(), Record: true, Shape: shape}
	pk := func(i int) string { return fmt.Sprintf("k%04d", i) }
	if _, err := b.Snapshot(ctx, "snap-1", fixtureT0, fixtureT0.Add(time.Minute), n, 50, func(i int) writer.SnapshotItem {
		return writer.SnapshotItem{Keys: fmt.Sprintf(`{"pk":{"S":%q}}`, pk(i)), Item: bookItem(pk(i), 0)}
	}); err != nil {
		t.Fatal(err)
	}
	var changes []writer.Change
	seq := 10
	next := func() int { seq++; return seq }
	for i := 0; i < n; i += 3 {
		changes = append(changes, bookChange("books", next(), fixtureT0.Add(10*time.Minute), "MODIFY", pk(i), 1))
	}
	for i := 1; i < n; i += 3 {
		changes = append(changes, bookChange("books", next(), fixtureT0.Add(20*time.Minute), "REMOVE", pk(i), 0))
	}
	for i := range n / 10 {
		changes = append(changes, bookChange("books", next(), fixtureT0.Add(30*time.Minute), "INSERT", fmt.Sprintf("n%04d", i), 7))
	}
	if _, err := b.Segment(ctx, changes); err != nil {
		t.Fatal(err)
	}
	err = b.Checkpoint(ctx, []checkpoint.Position{{StreamARN: fixtureStream, ShardID: "shardId-1", CoveredFrom: fixtureT0.Add(-time.Hour),
		CoveredUntil: fixtureT0.Add(time.Hour), SequenceNumber: fmt.Sprint(seq), LastRecordTime: fixtureT0.Add(30 * time.Minute)}})
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// fileRestore restores src's books at at to a file and returns its sorted lines.
func fileRestore(t *testing.T, src, at string) []string {
	t.Helper()
	file := filepath.Join(t.TempDir(), "whole.json")
	if res := runCLI(t, "restore", "--source", src, "--table", "books", "--at", at, "--to-file", file); res.code != 0 {
		t.Fatalf("restore --to-file: exit %d: %s", res.code, res.stderr)
	}
	return readItems(t, file)
}

// itemsByPK takes {"Item":...} lines of books to their items by partition key, as
// scanTable gives a table's.
func itemsByPK(lines []string) map[string]string {
	out := map[string]string{}
	for _, line := range lines {
		item := strings.TrimSuffix(strings.TrimPrefix(line, `{"Item":`), "}")
		out[strings.SplitN(strings.SplitN(item, `"S":"`, 2)[1], `"`, 2)[0]] = item
	}
	return out
}

func TestRestorePartitions_ToFilesTogetherEqualOneRestore(t *testing.T) {
	src := wideBackup(t, 600)
	out := t.TempDir()
	want := fileRestore(t, src, "latest")
	var union []string
	for i := range 3 {
		path := filepath.Join(out, fmt.Sprintf("part-%d.json.gz", i))
		res := runCLI(t, "restore", "--source", src, "--table", "books", "--at", "latest", "--to-file", path, "--partition", fmt.Sprintf("%d/3", i))
		if res.code != 0 {
			t.Fatalf("partition %d/3: exit %d: %s", i, res.code, res.stderr)
		}
		got := readItems(t, path)
		if len(got) == 0 || len(got) > len(want)/2 {
			t.Errorf("partition %d/3 holds %d of %d items: not a share", i, len(got), len(want))
		}
		if !strings.Contains(res.stdout, fmt.Sprintf("restored %d items of books", len(got))) || !strings.Contains(res.stdout, fmt.Sprintf("(partition %d/3)", i)) {
			t.Errorf("partition %d/3: stdout %q does not say what it did", i, res.stdout)
		}
		if !strings.Contains(res.stderr, fmt.Sprintf("partition %d/3: restoring only the keys whose FNV-1a hash modulo 3 is %d", i, i)) {
			t.Errorf("partition %d/3: stderr %q does not say which keys", i, res.stderr)
		}
		union = append(union, got...)
	}
	slices.Sort(union)
	if !slices.Equal(union, want) {
		t.Errorf("the union of the partitions has %d items, one restore %d (or they differ)", len(union), len(want))
	}
	if len(want) != 600-200+60 {
		t.Errorf("one restore has %d items, want %d", len(want), 600-200+60)
	}
}

func TestRestorePartitions_UsageMistakesExitTwo(t *testing.T) {
	src := bookBackup(t)
	for _, p := range []string{"3/3", "1", "-1/2", "a/b", "0/0"} {
		res := runCLI(t, "restore", "--source", src, "--table", "books", "--at", "latest", "--to-file", filepath.Join(t.TempDir(), "o.json"), "--partition", p)
		if res.code != 2 || !strings.Contains(res.stderr, "--partition") || strings.Count(strings.TrimSpace(res.stderr), "\n") > 1 {
			t.Errorf("--partition %s: exit %d, stderr %q", p, res.code, res.stderr)
		}
	}
}

// Three partitions with --create run at once into one new table on DynamoDB Local:
// one creates it, the others take it, and the table equals one restore. A partition run
// again (a retried pod) changes nothing; into the existing table, changed meanwhile, the
// three partitions make it equal again.
func TestRestorePartitions_IntoOneNewTableEqualOneRestore(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	db := ddblocal.Shared(t).DynamoDB()
	src := wideBackup(t, 300)
	want := itemsByPK(fileRestore(t, src, "latest"))
	target := fmt.Sprintf("parts-%d", time.Now().UnixNano())
	t.Cleanup(func() {
		db.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: aws.String(target)})
	})
	args := func(i int) []string {
		return []string{"restore", "--source", src, "--table", "books", "--at", "latest", "--to-table", target, "--create", "--partition", fmt.Sprintf("%d/3", i)}
	}
	var g errgroup.Group
	stderr := make([]bytes.Buffer, 3)
	for i := range 3 {
		cmd := ddbtapeCommand(ctx, t, nil, args(i)...)
		cmd.Stderr = &stderr[i]
		g.Go(func() error {
			if err := cmd.Run(); err != nil {
				return fmt.Errorf("partition %d/3: %v: %s", i, err, stderr[i].String())
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	created := 0
	for i := range stderr {
		if strings.Contains(stderr[i].String(), "created table "+target) {
			created++
		} else if !strings.Contains(stderr[i].String(), "taken as created by another partition") {
			t.Errorf("partition %d/3 says neither that it created the table nor that it took it: %s", i, stderr[i].String())
		}
	}
	if created != 1 {
		t.Errorf("%d partitions say they created the table, want 1", created)
	}
	if got := scanTable(t, db, target); !maps.Equal(got, want) {
		t.Fatalf("the table holds %d items, one restore %d (or they differ)", len(got), len(want))
	}
	res := ddbtape(ctx, t, nil, args(1)...)
	if res.code != 0 || !strings.Contains(res.stdout, "(partition 1/3)") {
		t.Fatalf("partition 1/3 again: exit %d: %s %s", res.code, res.stdout, res.stderr)
	}
	if got := scanTable(t, db, target); !maps.Equal(got, want) {
		t.Errorf("after partition 1/3 ran again the table holds %d items, want %d", len(got), len(want))
	}

	// Someone changes the table; the three partitions, each syncing its keys of the
	// existing table (guarded, with --yes), make it equal to the backup again.
	putBook(t, db, target, bookItem("zz-extra", 9))
	putBook(t, db, target, bookItem("k0000", 5))
	for i := range 3 {
		res := ddbtape(ctx, t, nil, "restore", "--source", src, "--table", "books", "--at", "latest", "--to-table", target, "--yes", "--partition", fmt.Sprintf("%d/3", i))
		if res.code != 0 {
			t.Fatalf("partition %d/3 into the existing table: exit %d: %s %s", i, res.code, res.stdout, res.stderr)
		}
	}
	if got := scanTable(t, db, target); !maps.Equal(got, want) {
		t.Errorf("after the partitions synced the existing table it holds %d items, want %d (or they differ)", len(got), len(want))
	}
}
