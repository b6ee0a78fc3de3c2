package verify

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/ddbtape/ddbtape/catalog"
	"github.com/ddbtape/ddbtape/checkpoint"
	"github.com/ddbtape/ddbtape/ddbjson"
	"github.com/ddbtape/ddbtape/internal/backuptest"
	"github.com/ddbtape/ddbtape/internal/ddblocal"
	"github.com/ddbtape/ddbtape/storage/dir"
	"github.com/ddbtape/ddbtape/writer"
)

func TestMain(m *testing.M) { ddblocal.Main(m) }

const testStream = "arn:aws:dynamodb:us-east-1:123456789012:table/verify/stream/2026-03-01T00:00:00.000"

// scanHook is the live table's API, calling before once when the Scan starts: what a
// capture running beside the verification stores meanwhile.
type scanHook struct {
	API
	once   sync.Once
	before func()
}

func (h *scanHook) Scan(ctx context.Context, in *dynamodb.ScanInput, optFns ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error) {
	h.once.Do(h.before)
	return h.API.Scan(ctx, in, optFns...)
}

// fixture is a backup of a table in DynamoDB Local: a snapshot of a..f at v=0 (at M0-1h),
// then changes up to M0 (a=1, b removed), covered until M0 = the moment verified.
type fixture struct {
	db     *dynamodb.Client
	table  string
	b      *backuptest.Builder
	cat    *catalog.Catalog
	m      time.Time
	nextSq int
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	inst := ddblocal.Shared(t)
	f := &fixture{db: inst.DynamoDB(), m: m0, nextSq: 100}
	f.table = ddblocal.CreateTable(t, f.db, ddblocal.TableOptions{NamePrefix: "verify", NoSortKey: true, NoStream: true})
	bucket, err := dir.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	f.b = &backuptest.Builder{Bucket: bucket, Table: f.table, SpoolDir: t.TempDir()}
	pks := []string{"a", "b", "c", "d", "e", "f"}
	if _, err := f.b.Snapshot(ctx, "snap-1", m0.Add(-time.Hour), m0.Add(-59*time.Minute), len(pks), 4, func(i int) writer.SnapshotItem {
		return writer.SnapshotItem{Keys: key(pks[i]), Item: item(pks[i], 0)}
	}); err != nil {
		t.Fatal(err)
	}
	f.store(t, m0, change("MODIFY", "a", m0.Add(-30*time.Minute), item("a", 1)), change("REMOVE", "b", m0.Add(-20*time.Minute), ""))
	// The table as it was at M0.
	for _, pk := range []string{"c", "d", "e", "f"} {
		f.put(t, item(pk, 0))
	}
	f.put(t, item("a", 1))
	f.cat = catalog.New(bucket, f.table, f.b.Checkpoints())
	return f
}

// store writes changes as a segment and moves the coverage to until.
func (f *fixture) store(t *testing.T, until time.Time, changes ...*writer.Change) {
	t.Helper()
	ctx := context.Background()
	var cs []writer.Change
	var last time.Time
	for _, c := range changes {
		f.nextSq++
		c.TableName, c.StreamARN, c.SequenceNumber, c.EventID, c.CapturedAt = f.table, testStream, fmt.Sprint(f.nextSq), fmt.Sprint("e", f.nextSq), c.ApproximateCreationTime
		cs = append(cs, *c)
		last = c.ApproximateCreationTime
	}
	if len(cs) > 0 {
		if _, err := f.b.Segment(ctx, cs); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.b.Checkpoint(ctx, []checkpoint.Position{{StreamARN: testStream, ShardID: "shard-1", CoveredFrom: m0.Add(-2 * time.Hour),
		CoveredUntil: until, SequenceNumber: fmt.Sprint(f.nextSq), LastRecordTime: last}}); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) put(t *testing.T, img string) {
	t.Helper()
	av, err := ddbjson.ToDynamoDB(img)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.db.PutItem(context.Background(), &dynamodb.PutItemInput{TableName: aws.String(f.table), Item: av}); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) del(t *testing.T, pk string) {
	t.Helper()
	if _, err := f.db.DeleteItem(context.Background(), &dynamodb.DeleteItemInput{TableName: aws.String(f.table),
		Key: map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: pk}}}); err != nil {
		t.Fatal(err)
	}
}

// run verifies with the clock at M0+10m, running during before while the Scan starts.
func (f *fixture) run(t *testing.T, cfg Config, during func()) (Report, error) {
	t.Helper()
	cfg.Now = func() time.Time { return m0.Add(10 * time.Minute) }
	cfg.PollEvery = 10 * time.Millisecond
	if cfg.RecheckWithin == 0 {
		cfg.RecheckWithin = time.Second
	}
	api := &scanHook{API: f.db, before: during}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return Run(ctx, f.cat, api, cfg)
}

func TestRun_PassesWhileWritesGoOnAndCountsThemExpected(t *testing.T) {
	f := newFixture(t)
	// Writes while the Scan runs, each captured (stamped after M0) by the time it ends.
	rep, err := f.run(t, Config{}, func() {
		f.put(t, item("c", 5))
		f.del(t, "d")
		f.put(t, item("n", 1))
		f.store(t, m0.Add(11*time.Minute),
			change("MODIFY", "c", m0.Add(time.Minute), item("c", 5)),
			change("REMOVE", "d", m0.Add(2*time.Minute), ""),
			change("INSERT", "n", m0.Add(3*time.Minute), item("n", 1)))
	})
	if err != nil {
		t.Fatalf("verify: %v (report %+v)", err, rep)
	}
	if rep.Result != Pass || rep.Compared != 6 || rep.Matching != 3 || rep.Expected != 3 || rep.Mismatches != 0 ||
		rep.Different != 1 || rep.Missing != 1 || rep.Extra != 1 {
		t.Errorf("report %+v: want a pass over 6 items (a, c-f at M0 and n), 3 matching and 3 expected differences", rep)
	}
	if !rep.At.Equal(m0) || rep.SnapshotID != "snap-1" || rep.LastPassAt.IsZero() || rep.RecheckedThrough.Before(rep.ScanFinishedAt) {
		t.Errorf("report %+v: want M0, snap-1, a pass time and a re-check through the scan's end", rep)
	}
}

func TestRun_FailsOnAnItemChangedBehindTheBackupsBack(t *testing.T) {
	f := newFixture(t)
	// e changes with no stream record; f changes twice, and only the first is captured
	// although the Scan read the second; c changes and is captured, as writes go on.
	rep, err := f.run(t, Config{}, func() {
		f.put(t, item("e", 9))
		f.put(t, item("f", 2))
		f.put(t, item("c", 5))
		f.store(t, m0.Add(11*time.Minute),
			change("MODIFY", "f", m0.Add(time.Minute), item("f", 1)),
			change("MODIFY", "c", m0.Add(time.Minute), item("c", 5)))
	})
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	if rep.Result != Fail || rep.Mismatches != 2 || rep.Expected != 1 ||
		len(rep.Examples) != 2 || rep.Examples[0] != (Mismatch{Key: key("e"), Kind: Different}) || rep.Examples[1] != (Mismatch{Key: key("f"), Kind: Different}) {
		t.Errorf("report %+v: want a failure naming e and f, and c expected", rep)
	}
	if !rep.LastPassAt.IsZero() {
		t.Errorf("a failing run reports a pass at %s", rep.LastPassAt)
	}
}

func TestRun_IsAnErrorWhenCaptureDoesNotCoverTheScan(t *testing.T) {
	f := newFixture(t)
	rep, err := f.run(t, Config{RecheckWithin: 50 * time.Millisecond}, func() { f.put(t, item("c", 5)) })
	if !errors.Is(err, ErrNotCovered) || rep.Result != Error || rep.Error == "" {
		t.Fatalf("verify = %v, report %+v: want ErrNotCovered and an error report", err, rep)
	}
}

func TestRun_SampledRunComparesWhatItReads(t *testing.T) {
	f := newFixture(t)
	// Every segment: a full sample through the sampled path (1000 Scan segments).
	rep, err := f.run(t, Config{Sample: 0.999, StartSegment: 3}, func() {})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Result != Pass || rep.Segments == nil || rep.Segments.Count != 999 || rep.Segments.First != 3 || rep.NextSegment != 2 || rep.Compared > 5 {
		t.Errorf("report %+v (segments %+v): want a pass over at most the 5 live items from segment 3, next at 2", rep, rep.Segments)
	}
}

func TestRun_NothingRestorableIsNoCoverage(t *testing.T) {
	ctx := context.Background()
	inst := ddblocal.Shared(t)
	bucket, err := dir.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cat := catalog.New(bucket, "nothing-here", nil)
	if _, err := Run(ctx, cat, inst.DynamoDB(), Config{}); !errors.Is(err, catalog.ErrNoCoverage) {
		t.Errorf("verify of an empty backup = %v, want ErrNoCoverage", err)
	}
}
