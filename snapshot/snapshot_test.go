package snapshot

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/ddbtape/ddbtape/internal/snapshottest"
	"github.com/ddbtape/ddbtape/retry"
	"github.com/ddbtape/ddbtape/storage"
	"github.com/ddbtape/ddbtape/writer"
)

func decodeManifest(r io.Reader) (writer.Manifest, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return writer.Manifest{}, err
	}
	return writer.DecodeManifest(data)
}

func TestRun_StoresEveryItemOnceInPartsListedByTheManifest(t *testing.T) {
	tbl := newMemTable(250)
	b := newDirBucket(t)
	j, err := Prepare(t.Context(), tbl.db(), b, testConfig(tbl.name))
	if err != nil {
		t.Fatal(err)
	}
	var p countingProgress
	m, err := j.Run(t.Context(), &p)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	got, rows := readSnapshot(t, b, tbl.name, j.ID())
	sameRows(t, rows, tbl.expected(t))
	if got.ItemCount != 250 || m.ItemCount != 250 || len(got.Parts) != len(m.Parts) {
		t.Errorf("manifest item_count %d (returned %d), want 250", got.ItemCount, m.ItemCount)
	}
	if got.SnapshotID != j.ID() || got.Method != "scan" || got.FormatVersion != writer.ManifestFormatVersion {
		t.Errorf("manifest id %q method %q version %d", got.SnapshotID, got.Method, got.FormatVersion)
	}
	if got.StartedAt.IsZero() || got.FinishedAt.Before(got.StartedAt) {
		t.Errorf("started_at %v finished_at %v", got.StartedAt, got.FinishedAt)
	}
	if !strings.Contains(got.StreamARN, "/stream/") || got.StreamViewType != "NEW_AND_OLD_IMAGES" || got.BillingMode != "PAY_PER_REQUEST" {
		t.Errorf("manifest stream %q %q billing %q", got.StreamARN, got.StreamViewType, got.BillingMode)
	}
	// Parts are cut at page boundaries once 20 rows are reached: pages of 7 give 21-row parts.
	for _, mp := range got.Parts {
		if mp.Rows%7 != 0 && mp.Rows > 21 {
			t.Errorf("part %s has %d rows: not cut at a page boundary", mp.Name, mp.Rows)
		}
	}
	if p.items != 250 {
		t.Errorf("progress saw %d items, want 250", p.items)
	}
	if st := j.Stats(); st.Items != 250 || st.Parts != int64(len(got.Parts)) || st.Retries != 0 {
		t.Errorf("stats %+v", st)
	}
	// The snapshot deletes nothing: its state stays, for retention to delete with it.
	if objs, _ := b.List(t.Context(), writer.SnapshotDir(tbl.name, j.ID())+stateDir); len(objs) == 0 {
		t.Errorf("no state left after the manifest: the job deleted it")
	}
}

func TestRun_EmptyTableGivesAManifestWithoutParts(t *testing.T) {
	tbl := newMemTable(0)
	b := newDirBucket(t)
	j, m, err := runJob(t, tbl.db(), b, testConfig(tbl.name), nil)
	if err != nil {
		t.Fatal(err)
	}
	got, rows := readSnapshot(t, b, tbl.name, j.ID())
	if len(rows) != 0 || got.ItemCount != 0 || got.Parts == nil || len(m.Parts) != 0 {
		t.Errorf("empty table: %d rows, manifest %+v", len(rows), got)
	}
}

func TestRun_RetriesTransientErrorsWithoutLosingOrRepeatingItems(t *testing.T) {
	faults := []error{
		errThrottled,
		&smithy.GenericAPIError{Code: "ThrottlingException", Message: "rate exceeded"},
		&types.RequestLimitExceeded{Message: aws.String("account limit")},
		&types.InternalServerError{Message: aws.String("internal")},
		&awshttp.ResponseError{ResponseError: &smithyhttp.ResponseError{Response: &smithyhttp.Response{Response: &http503}, Err: errors.New("unavailable")}},
		&smithyhttp.RequestSendError{Err: errors.New("read: connection reset by peer")},
		&smithy.DeserializationError{Err: fmt.Errorf("failed to decode response body, %w", io.ErrUnexpectedEOF)},
	}
	tbl := newMemTable(300)
	tbl.failCalls = func(call int, _ *dynamodb.ScanInput) error {
		if call%2 == 0 { // every other call fails: retries succeed, then the next page fails again
			return faults[(call/2)%len(faults)]
		}
		return nil
	}
	b := newDirBucket(t)
	j, _, err := runJob(t, tbl.db(), b, testConfig(tbl.name), func(j *Job) { fastRetries(j, 3) })
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	_, rows := readSnapshot(t, b, tbl.name, j.ID())
	sameRows(t, rows, tbl.expected(t))
	st := j.Stats()
	if st.Retries < int64(len(faults)) || st.Throttles == 0 || st.Throttles == st.Retries {
		t.Errorf("stats %+v: want retries of every kind, some of them throttles", st)
	}
}

var http503 = http.Response{StatusCode: http.StatusServiceUnavailable}

func TestRun_NonRetryableErrorStopsAtOnceWithoutManifest(t *testing.T) {
	tbl := newMemTable(50)
	tbl.failCalls = func(int, *dynamodb.ScanInput) error {
		return &smithy.GenericAPIError{Code: "ValidationException", Message: "bad segment"}
	}
	b := newDirBucket(t)
	j, _, err := runJob(t, tbl.db(), b, testConfig(tbl.name), func(j *Job) { fastRetries(j, 5) })
	if err == nil || !strings.Contains(err.Error(), "ValidationException") || !strings.Contains(err.Error(), "--resume "+j.ID()) {
		t.Fatalf("Run error %v; want the ValidationException and how to resume", err)
	}
	if j.Stats().Retries != 0 {
		t.Errorf("a validation error was retried %d times", j.Stats().Retries)
	}
	if hasManifest(t, b, tbl.name, j.ID()) {
		t.Error("a failed snapshot has a manifest")
	}
}

func TestRun_GivesUpAfterTheRetryBoundAndResumeFinishesWithoutRescanning(t *testing.T) {
	tbl := newMemTable(400)
	var blocked atomic.Bool
	blocked.Store(true)
	tbl.failCalls = func(_ int, in *dynamodb.ScanInput) error {
		// Segment 2 is throttled after its first page until the "table" recovers.
		if blocked.Load() && aws.ToInt32(in.Segment) == 2 && in.ExclusiveStartKey != nil {
			return errThrottled
		}
		return nil
	}
	b := newDirBucket(t)
	cfg := testConfig(tbl.name)
	cfg.Workers = 1 // segments in order: 0 and 1 finish, 2 gives up, 3 never starts
	j, _, err := runJob(t, tbl.db(), b, cfg, func(j *Job) { fastRetries(j, 4) })
	if !errors.Is(err, retry.ErrGaveUp) || !errors.As(err, new(*types.ProvisionedThroughputExceededException)) {
		t.Fatalf("Run error %v; want ErrGaveUp wrapping the throttle", err)
	}
	if !strings.Contains(err.Error(), "--resume "+j.ID()) {
		t.Errorf("error %q does not say how to resume", err)
	}
	if hasManifest(t, b, tbl.name, j.ID()) {
		t.Fatal("a snapshot that gave up has a manifest")
	}
	firstRun := tbl.pages()

	blocked.Store(false)
	cfg.SnapshotID = j.ID()
	cfg.Segments = 0 // a resumed snapshot keeps its own
	cfg.Workers = 3
	j2, err := Prepare(t.Context(), tbl.db(), b, cfg)
	if err != nil {
		t.Fatal(err)
	}
	stored, _ := j2.Stored()
	if stored != 200 {
		t.Errorf("resumed snapshot found %d items stored, want segments 0 and 1's 200", stored)
	}
	m, err := j2.Run(t.Context(), nil)
	if err != nil {
		t.Fatalf("resumed Run: %v", err)
	}
	if !j2.Resumed() || !m.StartedAt.Equal(j.StartedAt()) {
		t.Errorf("resumed snapshot started_at %v, want the original %v", m.StartedAt, j.StartedAt())
	}
	_, rows := readSnapshot(t, b, tbl.name, j.ID())
	sameRows(t, rows, tbl.expected(t))
	after := tbl.pages()
	for _, seg := range []int{0, 1} {
		if again := after[seg] - firstRun[seg]; again != 0 {
			t.Errorf("segment %d was read again (%d pages) after it finished", seg, again)
		}
	}
	// Segment 2's first page was read but never stored (its part was not due): read again.
	if got := j2.Stats().Items; got != 400-stored {
		t.Errorf("resumed run read %d items, want the %d not stored", got, 400-stored)
	}
}

// failingPuts fails every Put of a segment state after the first limit ones: the process
// "dies" between uploading a part and recording it.
type failingPuts struct {
	storage.Bucket
	limit int32
	puts  atomic.Int32
}

func (f *failingPuts) Put(ctx context.Context, key string, r io.Reader) error {
	if strings.Contains(key, "/state/segment-") && f.puts.Add(1) > f.limit {
		return errors.New("disk on fire")
	}
	return f.Bucket.Put(ctx, key, r)
}

// A resumed snapshot leaves the parts no segment recorded out of its manifest, without
// deleting them (the snapshot job deletes nothing: capture's role has no delete, and
// under Object Lock they are locked), and stores nothing twice.
func TestResume_LeavesPartsNoSegmentRecordedOutOfTheManifestAndStoresNothingTwice(t *testing.T) {
	tbl := newMemTable(300)
	root := newDirBucket(t)
	crashing := &failingPuts{Bucket: root, limit: 3}
	cfg := testConfig(tbl.name)
	j, _, err := runJob(t, tbl.db(), crashing, cfg, nil)
	if err == nil || !strings.Contains(err.Error(), "disk on fire") {
		t.Fatalf("Run error %v; want the failed state save", err)
	}
	snapDir := writer.SnapshotDir(tbl.name, j.ID())
	before, err := root.List(t.Context(), snapDir+"part-")
	if err != nil {
		t.Fatal(err)
	}
	segs, err := loadSegments(t.Context(), storage.Sub(root, snapDir), 4)
	if err != nil {
		t.Fatal(err)
	}
	recorded := 0
	for _, s := range segs {
		recorded += len(s.Parts)
	}
	if len(before) <= recorded {
		t.Fatalf("%d parts stored, %d recorded: the crash left no orphan to test with", len(before), recorded)
	}

	cfg.SnapshotID = j.ID()
	j2, m, err := runJob(t, tbl.db(), root, cfg, nil)
	if err != nil {
		t.Fatalf("resumed Run: %v", err)
	}
	_, rows := readSnapshot(t, root, tbl.name, j.ID()) // also fails on files the manifest does not list
	sameRows(t, rows, tbl.expected(t))
	if got, want := j2.Stats().Orphans, int64(len(before)-recorded); got != want {
		t.Errorf("left %d orphans out of the manifest, want %d", got, want)
	}
	read, err := snapshottest.ReadSnapshot(t.Context(), root, tbl.name, j.ID())
	if err != nil || len(read.Orphans) != len(before)-recorded {
		t.Errorf("the directory holds orphans %v (%v), want the %d the crash left", read.Orphans, err, len(before)-recorded)
	}
	// New parts never take an orphan's number: FlushPart would refuse different content.
	maxBefore := 0
	for _, o := range before {
		n, _ := partNumber(strings.TrimPrefix(o.Key, snapDir))
		maxBefore = max(maxBefore, n)
	}
	fresh := 0
	for _, mp := range m.Parts {
		n, _ := partNumber(mp.Name)
		if n > maxBefore {
			fresh++
		}
	}
	if fresh != int(j2.Stats().Parts) {
		t.Errorf("%d parts of the resumed run are numbered above the old maximum %d, want all %d", fresh, maxBefore, j2.Stats().Parts)
	}
}

func TestPrepare_NamedErrors(t *testing.T) {
	tbl := newMemTable(20)
	b := newDirBucket(t)
	done, _, err := runJob(t, tbl.db(), b, testConfig(tbl.name), nil)
	if err != nil {
		t.Fatal(err)
	}
	incomplete, err := Prepare(t.Context(), tbl.db(), b, testConfig(tbl.name))
	if err != nil {
		t.Fatal(err)
	}
	recreated := newMemTable(20)
	recreated.created = tbl.created.Add(time.Hour)

	tests := []struct {
		name string
		db   API
		cfg  func(Config) Config
		want error
	}{
		{"unknown table", tbl.db(), func(c Config) Config { c.Table = "nope"; return c }, ErrTableNotFound},
		{"resume of an unknown id", tbl.db(), func(c Config) Config { c.SnapshotID = "20200101T000000Z-abcd"; return c }, ErrSnapshotNotFound},
		{"resume of a malformed id", tbl.db(), func(c Config) Config { c.SnapshotID = "../../etc"; return c }, ErrSnapshotNotFound},
		{"resume of a complete snapshot", tbl.db(), func(c Config) Config { c.SnapshotID = done.ID(); return c }, ErrSnapshotComplete},
		{"resume with another segment count", tbl.db(), func(c Config) Config {
			c.SnapshotID, c.Segments = incomplete.ID(), 9
			return c
		}, ErrSegmentsChanged},
		{"resume after the table was recreated", recreated.db(), func(c Config) Config { c.SnapshotID = incomplete.ID(); return c }, ErrTableChanged},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Prepare(t.Context(), tt.db, b, tt.cfg(testConfig(tbl.name)))
			if !errors.Is(err, tt.want) {
				t.Errorf("Prepare error %v, want %v", err, tt.want)
			}
		})
	}
}

// failingBucket refuses every write, like a destination the process may not write to.
type failingBucket struct{ storage.Bucket }

func (failingBucket) Put(context.Context, string, io.Reader) error {
	return &os.PathError{Op: "open", Path: "/backups/orders", Err: os.ErrPermission}
}

func TestPrepare_UnwritableDestinationFailsBeforeScanning(t *testing.T) {
	tbl := newMemTable(20)
	_, err := Prepare(t.Context(), tbl.db(), failingBucket{newDirBucket(t)}, testConfig(tbl.name))
	if !errors.Is(err, os.ErrPermission) {
		t.Fatalf("Prepare error %v; want the permission error", err)
	}
	if tbl.calls != 0 {
		t.Errorf("%d Scan calls before the destination was checked", tbl.calls)
	}
}

func TestPrepare_DefaultSegmentsAndStoredCounts(t *testing.T) {
	tbl := newMemTable(30)
	b := newDirBucket(t)
	cfg := testConfig(tbl.name)
	cfg.Segments, cfg.Workers = 0, 5
	j, err := Prepare(t.Context(), tbl.db(), b, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if j.Segments() != 5 || j.EstimatedItems() != 30 || j.Resumed() {
		t.Errorf("segments %d estimate %d resumed %v; want 5 (the worker floor), 30, false", j.Segments(), j.EstimatedItems(), j.Resumed())
	}
	if items, _ := j.Stored(); items != 0 {
		t.Errorf("a new snapshot has %d stored items", items)
	}
	if _, err := j.Run(t.Context(), nil); err != nil {
		t.Fatal(err)
	}
}

func TestDefaultSegments(t *testing.T) {
	tests := []struct {
		size    int64
		workers int
		want    int
	}{
		{0, 4, 4},
		{gib - 1, 4, 4},
		{10 * gib, 4, 10},
		{10*gib + 1, 8, 11},
		{3 * gib, 8, 8},
		{1 << 62, 4, maxSegments},
	}
	for _, tt := range tests {
		if got := defaultSegments(tt.size, tt.workers); got != tt.want {
			t.Errorf("defaultSegments(%d, %d) = %d, want %d", tt.size, tt.workers, got, tt.want)
		}
	}
}

func TestID_SortsByTimeAndValidates(t *testing.T) {
	a := NewID(time.Date(2026, 11, 21, 19, 4, 12, 0, time.UTC))
	b := NewID(time.Date(2026, 11, 21, 19, 4, 13, 0, time.FixedZone("x", 3600)))
	if !strings.HasPrefix(a, "20261121T190412Z-") || len(a) != len("20261121T190412Z-ab12") {
		t.Errorf("NewID = %q", a)
	}
	if b >= a { // b is 18:04:13 UTC, an hour before a
		t.Errorf("id %q of an earlier start sorts after %q", b, a)
	}
	if tm, ok := IDTime(a); !ok || !tm.Equal(time.Date(2026, 11, 21, 19, 4, 12, 0, time.UTC)) {
		t.Errorf("IDTime(%q) = %v, %v", a, tm, ok)
	}
	for id, want := range map[string]bool{
		a: true, "20261121T190412Z-ab12": true, "20261121T190412Z-AB12": false, "20261121T190412Z-ab1": false,
		"20261121T190412Z": false, "../20261121T190412Z-ab12": false, "20261321T190412Z-ab12": false, "": false,
		"20261121T190412Z-ab12/../x": false, "20261121T190412.5Z-abcd": false,
	} {
		if got := ValidID(id); got != want {
			t.Errorf("ValidID(%q) = %v, want %v", id, got, want)
		}
	}
}

func TestPartNumber(t *testing.T) {
	for name, want := range map[string]int{
		writer.PartName(0): 0, writer.PartName(42): 42, writer.PartName(123456): 123456,
		"part-1.parquet": -1, "part-00001.json": -1, ".part-00001.parquet.tmp-1": -1, "part-x0001.parquet": -1,
	} {
		n, ok := partNumber(name)
		if ok != (want >= 0) || (ok && n != want) {
			t.Errorf("partNumber(%q) = %d, %v; want %d", name, n, ok, want)
		}
	}
}

func TestDescribeManifest_ProvisionedTableWithIndexes(t *testing.T) {
	d := &types.TableDescription{
		TableName: aws.String("orders"), TableArn: aws.String("arn:t/orders"),
		KeySchema: []types.KeySchemaElement{
			{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash},
			{AttributeName: aws.String("sk"), KeyType: types.KeyTypeRange},
		},
		AttributeDefinitions: []types.AttributeDefinition{
			{AttributeName: aws.String("pk"), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: aws.String("sk"), AttributeType: types.ScalarAttributeTypeN},
		},
		ProvisionedThroughput: &types.ProvisionedThroughputDescription{ReadCapacityUnits: aws.Int64(5), WriteCapacityUnits: aws.Int64(7)},
		GlobalSecondaryIndexes: []types.GlobalSecondaryIndexDescription{{
			IndexName:             aws.String("by-sk"),
			KeySchema:             []types.KeySchemaElement{{AttributeName: aws.String("sk"), KeyType: types.KeyTypeHash}},
			Projection:            &types.Projection{ProjectionType: types.ProjectionTypeInclude, NonKeyAttributes: []string{"a", "b"}},
			ProvisionedThroughput: &types.ProvisionedThroughputDescription{ReadCapacityUnits: aws.Int64(1), WriteCapacityUnits: aws.Int64(2)},
		}},
		LocalSecondaryIndexes: []types.LocalSecondaryIndexDescription{{
			IndexName:  aws.String("lsi"),
			KeySchema:  []types.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash}, {AttributeName: aws.String("sk"), KeyType: types.KeyTypeRange}},
			Projection: &types.Projection{ProjectionType: types.ProjectionTypeKeysOnly},
		}},
		StreamSpecification: &types.StreamSpecification{StreamEnabled: aws.Bool(true), StreamViewType: types.StreamViewTypeKeysOnly},
		LatestStreamArn:     aws.String("arn:t/orders/stream/1"),
		SSEDescription:      &types.SSEDescription{Status: types.SSEStatusEnabled, SSEType: types.SSETypeKms, KMSMasterKeyArn: aws.String("arn:aws:kms:us-east-1:1:key/k")},
	}
	got, err := json.Marshal(describeManifest(d))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"format_version":1,"snapshot_id":"","table_name":"orders","table_arn":"arn:t/orders","started_at":"0001-01-01T00:00:00Z","finished_at":"0001-01-01T00:00:00Z","item_count":0,"method":"scan",` +
		`"key_schema":[{"attribute_name":"pk","key_type":"HASH"},{"attribute_name":"sk","key_type":"RANGE"}],` +
		`"attribute_definitions":[{"attribute_name":"pk","attribute_type":"S"},{"attribute_name":"sk","attribute_type":"N"}],` +
		`"global_secondary_indexes":[{"index_name":"by-sk","key_schema":[{"attribute_name":"sk","key_type":"HASH"}],"projection_type":"INCLUDE","non_key_attributes":["a","b"],"read_capacity_units":1,"write_capacity_units":2}],` +
		`"local_secondary_indexes":[{"index_name":"lsi","key_schema":[{"attribute_name":"pk","key_type":"HASH"},{"attribute_name":"sk","key_type":"RANGE"}],"projection_type":"KEYS_ONLY"}],` +
		`"billing_mode":"PROVISIONED","read_capacity_units":5,"write_capacity_units":7,"stream_arn":"arn:t/orders/stream/1","stream_view_type":"KEYS_ONLY","sse_type":"KMS","sse_kms_key_arn":"arn:aws:kms:us-east-1:1:key/k","parts":null}`
	if !bytes.Equal(got, []byte(want)) {
		t.Errorf("manifest\n got %s\nwant %s", got, want)
	}
}

func TestStreamWarning(t *testing.T) {
	for view, warns := range map[string]string{
		"": "has no stream", "KEYS_ONLY": "view type KEYS_ONLY", "OLD_IMAGE": "view type OLD_IMAGE",
		"NEW_IMAGE": "", "NEW_AND_OLD_IMAGES": "",
	} {
		got := streamWarning(writer.Manifest{TableName: "orders", StreamViewType: view})
		if warns == "" && got != "" || warns != "" && (!strings.Contains(got, warns) || !strings.Contains(got, "cannot be combined with change segments")) {
			t.Errorf("view %q: warning %q", view, got)
		}
	}
}

func TestState_CorruptSegmentFileIsANamedError(t *testing.T) {
	b := newDirBucket(t)
	if err := b.Put(t.Context(), segmentStateName(1), strings.NewReader("{not json")); err != nil {
		t.Fatal(err)
	}
	if _, err := loadSegments(t.Context(), b, 4); !errors.Is(err, ErrStateCorrupt) {
		t.Errorf("loadSegments = %v, want ErrStateCorrupt", err)
	}
	if err := b.Put(t.Context(), segmentStateName(1), strings.NewReader(`{"segment":7}`)); err != nil {
		t.Fatal(err)
	}
	if _, err := loadSegments(t.Context(), b, 4); !errors.Is(err, ErrStateCorrupt) {
		t.Errorf("loadSegments with a foreign segment number = %v, want ErrStateCorrupt", err)
	}
}
