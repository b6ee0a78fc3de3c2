package snapshot

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/ddbtape/ddbtape/globaltable"
	"github.com/ddbtape/ddbtape/internal/ddblocal"
	"github.com/ddbtape/ddbtape/internal/faultproxy"
	"github.com/ddbtape/ddbtape/internal/s3local"
	"github.com/ddbtape/ddbtape/internal/snapshottest"
	"github.com/ddbtape/ddbtape/ledger"
	s3store "github.com/ddbtape/ddbtape/storage/s3"
	"github.com/ddbtape/ddbtape/writer"
)

func TestMain(m *testing.M) { ddblocal.Main(m) }

// bigItems is the size of the shared table: 20,000 items of every attribute type, a few of
// them near 400 KB, some nested 20 deep.
const bigItems = 20_000

// bigTable is loaded once per test binary (10-15 s in DynamoDB Local) and only read.
var bigTable struct {
	once  sync.Once
	name  string
	items map[string]string // the table's full Scan: canonical key -> canonical item
	err   error
}

func sharedBigTable(t *testing.T) (string, map[string]string) {
	t.Helper()
	db := ddblocal.Shared(t).DynamoDB()
	bigTable.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		bigTable.name = "snapshot-big"
		if bigTable.err = snapshottest.CreateTable(ctx, db, bigTable.name); bigTable.err != nil {
			return
		}
		began := time.Now()
		if bigTable.err = snapshottest.Load(ctx, db, bigTable.name, snapshottest.MixedItems(1, bigItems)); bigTable.err != nil {
			return
		}
		t.Logf("loaded %d items into %s in %s", bigItems, bigTable.name, time.Since(began).Round(time.Millisecond))
		bigTable.items, bigTable.err = snapshottest.ScanTable(ctx, db, bigTable.name)
	})
	if bigTable.err != nil {
		t.Fatalf("load the shared table: %v", bigTable.err)
	}
	if len(bigTable.items) != bigItems {
		t.Fatalf("shared table holds %d items, want %d", len(bigTable.items), bigItems)
	}
	return bigTable.name, bigTable.items
}

func checkSnapshot(t *testing.T, s snapshottest.Snapshot, want map[string]string) {
	t.Helper()
	for _, p := range s.Problems {
		t.Error(p)
	}
	for _, d := range snapshottest.Diff(s.Items, want, 10) {
		t.Error(d)
	}
}

func TestSnapshot_PartsHoldExactlyAFullScanOfTheTable(t *testing.T) {
	table, want := sharedBigTable(t)
	db := ddblocal.Shared(t).DynamoDB()
	b := newDirBucket(t)
	j, err := Prepare(t.Context(), db, b, Config{
		Table: table, Segments: 5, Workers: 3,
		Part: writer.PartPolicy{MaxRows: 500_000, MaxBytes: 4 << 20},
	})
	if err != nil {
		t.Fatal(err)
	}
	var p countingProgress
	m, err := j.Run(t.Context(), &p)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	s, err := snapshottest.ReadSnapshot(t.Context(), b, table, j.ID())
	if err != nil {
		t.Fatal(err)
	}
	checkSnapshot(t, s, want)
	if s.Manifest.ItemCount != bigItems || m.ItemCount != bigItems {
		t.Errorf("manifest item_count %d, want %d", s.Manifest.ItemCount, bigItems)
	}
	if len(s.Manifest.Parts) < 5 {
		t.Errorf("%d parts for 5 segments", len(s.Manifest.Parts))
	}
	if got := s.Manifest.KeySchema; len(got) != 2 || got[0] != (writer.KeyElement{AttributeName: "pk", KeyType: "HASH"}) ||
		got[1] != (writer.KeyElement{AttributeName: "sk", KeyType: "RANGE"}) {
		t.Errorf("manifest key schema %+v", got)
	}
	if p.items != bigItems {
		t.Errorf("progress counted %d items, want %d", p.items, bigItems)
	}
}

// quickRetries keeps the real schedule's shape (exponential, jittered, bounded) at a scale
// that suits a test hammered by faults.
func quickRetries(j *Job) {
	j.retries.Initial, j.retries.Max, j.retries.Bound = time.Millisecond, 20*time.Millisecond, time.Minute
}

func TestSnapshot_CompletesExactlyThroughThrottlingServerErrorsAndBrokenConnections(t *testing.T) {
	table, want := sharedBigTable(t)
	proxy := faultproxy.Start(ddblocal.Shared(t).Endpoint)
	defer proxy.Close()
	proxy.Seed(42)
	for _, f := range []faultproxy.Fault{
		faultproxy.ProvisionedThroughputExceeded, faultproxy.Throttling, faultproxy.RequestLimitExceeded,
		faultproxy.InternalServerError, faultproxy.ServiceUnavailable,
		faultproxy.ConnectionReset, faultproxy.ConnectionResetAfter, faultproxy.TruncatedResponse,
	} {
		proxy.Add(faultproxy.Rule{Op: "Scan", Fault: f, Rate: 0.06})
	}
	db := dynamodb.NewFromConfig(ddblocal.Shared(t).AWSConfig(), func(o *dynamodb.Options) {
		o.BaseEndpoint = aws.String(proxy.URL())
	})
	b := newDirBucket(t)
	j, err := Prepare(t.Context(), db, b, Config{Table: table, Segments: 6, Workers: 4, PageSize: 400,
		Part: writer.PartPolicy{MaxRows: 2_000, MaxBytes: 64 << 20}})
	if err != nil {
		t.Fatal(err)
	}
	quickRetries(j)
	if _, err := j.Run(t.Context(), nil); err != nil {
		t.Fatalf("Run: %v (faults injected: %v)", err, proxy.Counts())
	}
	s, err := snapshottest.ReadSnapshot(t.Context(), b, table, j.ID())
	if err != nil {
		t.Fatal(err)
	}
	checkSnapshot(t, s, want)
	counts := proxy.Counts()
	for _, name := range []string{"ProvisionedThroughputExceededException", "InternalServerError", "ServiceUnavailableException",
		"ConnectionReset", "TruncatedResponse"} {
		if counts[name] == 0 {
			t.Errorf("no %s was injected (counts %v): the test proves nothing about it", name, counts)
		}
	}
	st := j.Stats()
	var injected int64
	for _, n := range counts {
		injected += n
	}
	if st.Retries != injected {
		t.Errorf("%d retries for %d injected faults", st.Retries, injected)
	}
	t.Logf("faults %v; stats %+v", counts, st)
}

func TestSnapshot_GivesUpWhenThrottledPastTheBoundThenResumes(t *testing.T) {
	db0 := ddblocal.Shared(t).DynamoDB()
	table := ddblocal.CreateTable(t, db0, ddblocal.TableOptions{NoStream: true})
	items := snapshottest.MixedItems(7, 1_500)
	if err := snapshottest.Load(t.Context(), db0, table, items); err != nil {
		t.Fatal(err)
	}
	want, err := snapshottest.ScanTable(t.Context(), db0, table)
	if err != nil {
		t.Fatal(err)
	}
	proxy := faultproxy.Start(ddblocal.Shared(t).Endpoint)
	defer proxy.Close()
	db := dynamodb.NewFromConfig(ddblocal.Shared(t).AWSConfig(), func(o *dynamodb.Options) {
		o.BaseEndpoint = aws.String(proxy.URL())
	})
	b := newDirBucket(t)
	cfg := Config{Table: table, Segments: 3, Workers: 3, PageSize: 100, Part: writer.PartPolicy{MaxRows: 200, MaxBytes: 64 << 20}}
	j, err := Prepare(t.Context(), db, b, cfg)
	if err != nil {
		t.Fatal(err)
	}
	fastRetries(j, 5)
	// Let some pages through, then throttle every Scan: the table is "overloaded".
	proxy.Add(faultproxy.Rule{Op: "Scan", Fault: faultproxy.Delayed(0), Next: 6},
		faultproxy.Rule{Op: "Scan", Fault: faultproxy.ProvisionedThroughputExceeded, Rate: 1})
	_, err = j.Run(t.Context(), nil)
	if err == nil || !strings.Contains(err.Error(), "ProvisionedThroughputExceededException") ||
		!strings.Contains(err.Error(), "gave up retrying") || !strings.Contains(err.Error(), "--resume "+j.ID()) {
		t.Fatalf("Run error %v; want it to give up on throttling and say how to resume", err)
	}
	if hasManifest(t, b, table, j.ID()) {
		t.Fatal("the throttled snapshot wrote a manifest")
	}

	proxy.Clear()
	cfg.SnapshotID = j.ID()
	j2, err := Prepare(t.Context(), db, b, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if stored, _ := j2.Stored(); stored == 0 {
		t.Error("nothing was stored before the throttling: the resume proves little")
	}
	if _, err := j2.Run(t.Context(), nil); err != nil {
		t.Fatalf("resumed Run: %v", err)
	}
	s, err := snapshottest.ReadSnapshot(t.Context(), b, table, j.ID())
	if err != nil {
		t.Fatal(err)
	}
	checkSnapshot(t, s, want)
}

func TestSnapshot_ManifestRecordsStreamIndexesAndWarnsWithoutNewImages(t *testing.T) {
	db := ddblocal.Shared(t).DynamoDB()
	for _, tc := range []struct {
		name    string
		opts    ddblocal.TableOptions
		warning string
	}{
		{"new and old images", ddblocal.TableOptions{
			GlobalIndexes: []ddblocal.Index{{Name: "by-sk", PartitionKey: ddblocal.Key{Name: "sk", Type: types.ScalarAttributeTypeS}}},
			LocalIndexes:  []ddblocal.Index{{Name: "by-n", SortKey: ddblocal.Key{Name: "n", Type: types.ScalarAttributeTypeN}}},
		}, ""},
		{"keys only", ddblocal.TableOptions{StreamView: types.StreamViewTypeKeysOnly}, "view type KEYS_ONLY"},
		{"no stream", ddblocal.TableOptions{NoStream: true}, "has no stream"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			table := ddblocal.CreateTable(t, db, tc.opts)
			items := snapshottest.UniformItems(50, 200) // "n" is a number: the local index's sort key
			if err := snapshottest.Load(t.Context(), db, table, items); err != nil {
				t.Fatal(err)
			}
			var logs bytes.Buffer
			b := newDirBucket(t)
			j, err := Prepare(t.Context(), db, b, Config{Table: table, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			if err != nil {
				t.Fatal(err)
			}
			m, err := j.Run(t.Context(), nil)
			if err != nil {
				t.Fatal(err)
			}
			if tc.warning == "" {
				if m.StreamARN != ddblocal.StreamARN(t, db, table) || m.StreamViewType != "NEW_AND_OLD_IMAGES" {
					t.Errorf("manifest stream %q %q", m.StreamARN, m.StreamViewType)
				}
				if len(m.GlobalSecondaryIndexes) != 1 || m.GlobalSecondaryIndexes[0].IndexName != "by-sk" ||
					len(m.LocalSecondaryIndexes) != 1 || m.LocalSecondaryIndexes[0].IndexName != "by-n" {
					t.Errorf("manifest indexes %+v %+v", m.GlobalSecondaryIndexes, m.LocalSecondaryIndexes)
				}
				if strings.Contains(logs.String(), "WARN") || j.StreamWarning() != "" {
					t.Errorf("unexpected warning: %s", logs.String())
				}
			} else if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), tc.warning) ||
				!strings.Contains(j.StreamWarning(), "cannot be combined with change segments") {
				t.Errorf("log %q; want a warning containing %q", logs.String(), tc.warning)
			}
			if m.ItemCount != 50 || m.BillingMode != "PAY_PER_REQUEST" || m.StartedAt.After(m.FinishedAt) {
				t.Errorf("manifest %+v", m)
			}
			if want := globaltable.RegionOf(m.TableARN); m.Region != want || want == "" || m.GlobalTableVersion != "" || m.Replicas != nil {
				t.Errorf("manifest region %q, global %q %v: want %q of a single-region table", m.Region, m.GlobalTableVersion, m.Replicas, want)
			}
		})
	}
}

// TestSnapshot_RefusesADestinationHoldingAnotherRegionsStream: a global table's replica
// in another region scanned into a backup of this region's stream would not line up
// with it; the snapshot is refused before it writes anything.
func TestSnapshot_RefusesADestinationHoldingAnotherRegionsStream(t *testing.T) {
	db := ddblocal.Shared(t).DynamoDB()
	table := ddblocal.CreateTable(t, db, ddblocal.TableOptions{})
	b := newDirBucket(t)
	w := ledger.NewWriter(b, table, "test", nil)
	w.Add(ledger.Entry{Streams: []ledger.Stream{{ARN: "arn:aws:dynamodb:us-west-2:123456789012:table/" + table + "/stream/2026-03-01T00:00:00.000"}}})
	if err := w.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	_, err := Prepare(t.Context(), db, b, Config{Table: table})
	if !errors.Is(err, globaltable.ErrOtherRegion) || !strings.Contains(err.Error(), "region us-west-2's stream") {
		t.Fatalf("snapshot into a us-west-2 backup = %v, want ErrOtherRegion", err)
	}
	if objs, err := b.List(t.Context(), writer.SnapshotsPrefix(table)); err != nil || len(objs) != 0 {
		t.Errorf("the refused snapshot wrote %d objects (%v)", len(objs), err)
	}
}

func TestSnapshot_ConsistentReadsAndAnRCUCapStillReadEverything(t *testing.T) {
	db := ddblocal.Shared(t).DynamoDB()
	table := ddblocal.CreateTable(t, db, ddblocal.TableOptions{NoStream: true})
	if err := snapshottest.Load(t.Context(), db, table, snapshottest.UniformItems(400, 1000)); err != nil {
		t.Fatal(err)
	}
	want, err := snapshottest.ScanTable(t.Context(), db, table)
	if err != nil {
		t.Fatal(err)
	}
	b := newDirBucket(t)
	// 400 KB read consistently costs about 100 units: at 60/s the cap binds for a second or two.
	j, err := Prepare(t.Context(), db, b, Config{Table: table, Consistent: true, MaxRCU: 60, PageSize: 25, Segments: 2, Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := j.Run(t.Context(), nil); err != nil {
		t.Fatal(err)
	}
	s, err := snapshottest.ReadSnapshot(t.Context(), b, table, j.ID())
	if err != nil {
		t.Fatal(err)
	}
	checkSnapshot(t, s, want)
}

func TestSnapshot_ToS3ResumesAfterACrashAndLeavesOrphansOutOfTheManifest(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	srv, err := s3local.Start(ctx)
	if err != nil {
		t.Fatalf("start versitygw: %v", err)
	}
	defer srv.Stop()
	bucketName := srv.NewBucket(t)
	b := s3store.New(s3store.NewClient(srv.AWSConfig(), s3store.ClientOptions{PathStyle: true, Endpoint: srv.Endpoint}),
		bucketName, "backups/", s3store.Options{})

	db := ddblocal.Shared(t).DynamoDB()
	table := ddblocal.CreateTable(t, db, ddblocal.TableOptions{NoStream: true})
	if err := snapshottest.Load(ctx, db, table, snapshottest.MixedItems(11, 2_000)); err != nil {
		t.Fatal(err)
	}
	want, err := snapshottest.ScanTable(ctx, db, table)
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Table: table, Segments: 3, Workers: 3, PageSize: 100, Part: writer.PartPolicy{MaxRows: 150, MaxBytes: 64 << 20}}
	// The "process" dies at its fourth state save: parts stored after the third are orphans.
	_, _, err = runJob(t, db, &failingPuts{Bucket: b, limit: 3}, cfg, nil)
	if err == nil {
		t.Fatal("the crashing run succeeded")
	}
	ids, err := b.List(ctx, writer.SnapshotsPrefix(table))
	if err != nil || len(ids) == 0 {
		t.Fatalf("list snapshots: %v %v", ids, err)
	}
	cfg.SnapshotID = strings.Split(strings.TrimPrefix(ids[0].Key, writer.SnapshotsPrefix(table)), "/")[0]
	j, _, err := runJob(t, db, b, cfg, nil)
	if err != nil {
		t.Fatalf("resumed Run: %v", err)
	}
	if j.Stats().Orphans == 0 {
		t.Error("no orphan was found: the crash left none, so the test proves less than it should")
	}
	s, err := snapshottest.ReadSnapshot(ctx, b, table, cfg.SnapshotID)
	if err != nil {
		t.Fatal(err)
	}
	checkSnapshot(t, s, want)
}
