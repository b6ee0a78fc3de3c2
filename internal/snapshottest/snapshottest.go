// Package snapshottest builds and loads tables for the tests and benchmarks of snapshots
// (package snapshot, the ddbtape CLI, scripts/bench-snapshot.sh), and reads snapshots back
// for comparison. It is test support: nothing in the product imports it.
package snapshottest

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"golang.org/x/sync/errgroup"

	"github.com/ddbtape/ddbtape/ddbjson"
	"github.com/ddbtape/ddbtape/internal/workload"
	"github.com/ddbtape/ddbtape/storage"
	"github.com/ddbtape/ddbtape/writer"
)

// Item is one DynamoDB item.
type Item = map[string]types.AttributeValue

// CreateTable creates an on-demand table with key pk (S) + sk (S) and no stream (loading a
// stream-enabled table in DynamoDB Local is several times slower) and waits until it is
// ACTIVE.
func CreateTable(ctx context.Context, db *dynamodb.Client, name string) error {
	_, err := db.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName: aws.String(name),
		KeySchema: []types.KeySchemaElement{
			{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash},
			{AttributeName: aws.String("sk"), KeyType: types.KeyTypeRange},
		},
		AttributeDefinitions: []types.AttributeDefinition{
			{AttributeName: aws.String("pk"), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: aws.String("sk"), AttributeType: types.ScalarAttributeTypeS},
		},
		BillingMode: types.BillingModePayPerRequest,
	})
	if err != nil {
		return fmt.Errorf("create table %s: %w", name, err)
	}
	w := dynamodb.NewTableExistsWaiter(db, func(o *dynamodb.TableExistsWaiterOptions) {
		o.MinDelay, o.MaxDelay = 50*time.Millisecond, time.Second
	})
	if err := w.Wait(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(name)}, time.Minute); err != nil {
		return fmt.Errorf("wait for table %s: %w", name, err)
	}
	return nil
}

// Key is item i's key: 500 partitions of sort keys, so segments split partitions.
func Key(i int) Item {
	return Item{
		"pk": &types.AttributeValueMemberS{Value: fmt.Sprintf("user#%03d", i%500)},
		"sk": &types.AttributeValueMemberS{Value: fmt.Sprintf("item#%07d", i)},
	}
}

// MixedItems returns n items of every attribute type (S, N with 38 digits, B, BOOL, NULL,
// SS, NS, BS, L, nested M, unicode, empty strings), deterministic for a seed. Every 4,000th
// item is close to DynamoDB's 400 KB limit and every 97th nests maps 20 deep.
func MixedItems(seed uint64, n int) []Item {
	w := workload.New(nil, "", seed, 1)
	items := make([]Item, n)
	for i := range n {
		it := w.RandomItem(Key(i))
		if i%97 == 0 {
			it["deep"] = deepMap(20, i)
		}
		if i%4000 == 1 {
			// 300 KB of binary and 90 KB of text: about 390 KB with names and the rest.
			big := make([]byte, 300_000)
			for j := range big {
				big[j] = byte(i + j*7)
			}
			it["blob"] = &types.AttributeValueMemberB{Value: big}
			it["text"] = &types.AttributeValueMemberS{Value: strings.Repeat("ünïcødé ", 9_000)[:90_000]}
		}
		items[i] = it
	}
	return items
}

func deepMap(depth, i int) types.AttributeValue {
	v := types.AttributeValue(&types.AttributeValueMemberN{Value: fmt.Sprint(i)})
	for d := range depth {
		v = &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{
			fmt.Sprintf("level%02d", d): v,
			"tag":                       &types.AttributeValueMemberS{Value: "ø"},
		}}
	}
	return v
}

// UniformItems returns n items of about size bytes each: the fixed table of the benchmarks.
func UniformItems(n, size int) []Item {
	items := make([]Item, n)
	pad := strings.Repeat("x", max(size-60, 1))
	for i := range n {
		it := Key(i)
		it["n"] = &types.AttributeValueMemberN{Value: fmt.Sprint(i)}
		it["when"] = &types.AttributeValueMemberS{Value: "2026-11-21T19:04:12Z"}
		it["pad"] = &types.AttributeValueMemberS{Value: pad}
		items[i] = it
	}
	return items
}

// Load writes items with BatchWriteItem, 25 at a time, resending what DynamoDB leaves
// unprocessed. Items are sent in chunks of at most 16 MB, the request limit.
func Load(ctx context.Context, db *dynamodb.Client, table string, items []Item) error {
	const batch = 25
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(2) // DynamoDB Local is not faster with more; two hides the round trip
	for start := 0; start < len(items); start += batch {
		chunk := items[start:min(start+batch, len(items))]
		g.Go(func() error { return writeBatch(ctx, db, table, chunk) })
	}
	return g.Wait()
}

func writeBatch(ctx context.Context, db *dynamodb.Client, table string, items []Item) error {
	var reqs []types.WriteRequest
	for _, it := range items {
		reqs = append(reqs, types.WriteRequest{PutRequest: &types.PutRequest{Item: it}})
	}
	pending := map[string][]types.WriteRequest{table: reqs}
	for attempt := 0; len(pending[table]) > 0; attempt++ {
		if attempt > 50 {
			return fmt.Errorf("batch write to %s: %d items still unprocessed", table, len(pending[table]))
		}
		out, err := db.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: pending})
		if err != nil {
			return fmt.Errorf("batch write to %s: %w", table, err)
		}
		pending = out.UnprocessedItems
		if len(pending[table]) > 0 {
			time.Sleep(time.Duration(attempt+1) * 10 * time.Millisecond)
		}
	}
	return nil
}

// ScanTable reads the whole table with strongly consistent reads: canonical key JSON ->
// canonical item JSON.
func ScanTable(ctx context.Context, db *dynamodb.Client, table string) (map[string]string, error) {
	return workload.ScanAll(ctx, db, table)
}

// BareScan reads the table with a parallel Scan of the given segments and discards the
// rows: the baseline a snapshot is measured against. It returns the items read.
func BareScan(ctx context.Context, db *dynamodb.Client, table string, segments int) (int64, error) {
	counts := make([]int64, segments)
	g, ctx := errgroup.WithContext(ctx)
	for seg := range segments {
		g.Go(func() error {
			in := &dynamodb.ScanInput{
				TableName: aws.String(table), Segment: aws.Int32(int32(seg)), TotalSegments: aws.Int32(int32(segments)),
				ReturnConsumedCapacity: types.ReturnConsumedCapacityTotal,
			}
			for {
				out, err := db.Scan(ctx, in)
				if err != nil {
					return fmt.Errorf("scan segment %d: %w", seg, err)
				}
				counts[seg] += int64(len(out.Items))
				if len(out.LastEvaluatedKey) == 0 {
					return nil
				}
				in.ExclusiveStartKey = out.LastEvaluatedKey
			}
		})
	}
	err := g.Wait()
	var n int64
	for _, c := range counts {
		n += c
	}
	return n, err
}

// Snapshot is a complete snapshot read back: its manifest and its rows.
type Snapshot struct {
	Manifest writer.Manifest
	// Items is canonical key JSON -> canonical item JSON.
	Items map[string]string
	// Problems lists every way the snapshot disagrees with itself: a part whose size or
	// SHA-256 differs from the manifest, a row count that differs, a key column that is not
	// the item's key, an item stored twice, a file in the directory the manifest does not
	// list (but the scan's state/ and Orphans).
	Problems []string
	// Orphans are part files of an interrupted run that the manifest does not list: they
	// stay (the snapshot job deletes nothing) and are never read.
	Orphans []string
}

// ReadSnapshot reads the snapshot id of table from b: manifest, then every part it lists.
func ReadSnapshot(ctx context.Context, b storage.Bucket, table, id string) (Snapshot, error) {
	dirKey := writer.SnapshotDir(table, id)
	var s Snapshot
	m, err := readManifest(ctx, b, dirKey+writer.ManifestName)
	if err != nil {
		return s, err
	}
	s.Manifest, s.Items = m, map[string]string{}
	problem := func(format string, args ...any) { s.Problems = append(s.Problems, fmt.Sprintf(format, args...)) }
	listed := map[string]bool{writer.ManifestName: true}
	var total int64
	for _, mp := range m.Parts {
		listed[mp.Name] = true
		data, err := readAll(ctx, b, dirKey+mp.Name)
		if err != nil {
			return s, err
		}
		if err := writer.VerifyPart(strings.NewReader(string(data)), mp); err != nil {
			problem("%v", err)
		}
		items, err := writer.ReadPart(data)
		if err != nil {
			return s, fmt.Errorf("read part %s: %w", mp.Name, err)
		}
		if int64(len(items)) != mp.Rows {
			problem("part %s holds %d rows, manifest says %d", mp.Name, len(items), mp.Rows)
		}
		total += int64(len(items))
		for _, it := range items {
			key, item, err := canonicalRow(m, it)
			if err != nil {
				problem("part %s: %v", mp.Name, err)
				continue
			}
			if _, dup := s.Items[key]; dup {
				problem("item %s stored twice", key)
			}
			s.Items[key] = item
		}
	}
	if total != m.ItemCount {
		problem("parts hold %d rows, manifest item_count is %d", total, m.ItemCount)
	}
	objs, err := b.List(ctx, dirKey)
	if err != nil {
		return s, err
	}
	for _, o := range objs {
		name := strings.TrimPrefix(o.Key, dirKey)
		switch {
		case listed[name], strings.HasPrefix(name, "state/"):
		case strings.HasPrefix(name, "part-"):
			s.Orphans = append(s.Orphans, name)
		default:
			problem("snapshot directory holds %s, which the manifest does not list", name)
		}
	}
	return s, nil
}

// canonicalRow checks that a row's key column is its item's key and returns both canonical.
func canonicalRow(m writer.Manifest, it writer.SnapshotItem) (key, item string, err error) {
	attrs, err := ddbjson.ToDynamoDB(it.Item)
	if err != nil {
		return "", "", err
	}
	k := Item{}
	for _, e := range m.KeySchema {
		k[e.AttributeName] = attrs[e.AttributeName]
	}
	want, err := ddbjson.FromDynamoDB(k)
	if err != nil {
		return "", "", err
	}
	if it.Keys != want {
		return "", "", fmt.Errorf("row keys %s, but the item's key is %s", it.Keys, want)
	}
	if key, err = ddbjson.Canonical(it.Keys); err != nil {
		return "", "", err
	}
	item, err = ddbjson.Canonical(it.Item)
	return key, item, err
}

// Diff compares a snapshot's items with a table's (both canonical key -> canonical item)
// and describes up to limit differences; empty means equal.
func Diff(got, want map[string]string, limit int) []string {
	var out []string
	for k, w := range want {
		g, ok := got[k]
		switch {
		case !ok:
			out = append(out, "missing "+k)
		case g != w:
			out = append(out, fmt.Sprintf("differs %s:\n got %.300s\nwant %.300s", k, g, w))
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			out = append(out, "unexpected "+k)
		}
	}
	sort.Strings(out)
	if len(out) > limit {
		out = append(out[:limit], fmt.Sprintf("... and %d more", len(out)-limit))
	}
	return out
}

func readManifest(ctx context.Context, b storage.Bucket, key string) (writer.Manifest, error) {
	data, err := readAll(ctx, b, key)
	if err != nil {
		return writer.Manifest{}, err
	}
	return writer.DecodeManifest(data)
}

func readAll(ctx context.Context, b storage.Bucket, key string) ([]byte, error) {
	rc, err := b.Open(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", key, err)
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", key, err)
	}
	return data, nil
}
