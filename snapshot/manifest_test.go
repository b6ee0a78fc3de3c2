package snapshot

import (
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/ddbtape/ddbtape/globaltable"
	"github.com/ddbtape/ddbtape/internal/fakestreams"
	"github.com/ddbtape/ddbtape/storage/faulty"
	"github.com/ddbtape/ddbtape/writer"
)

// A manifest write that reports failure although it stored the manifest (412 after a
// lost response, a 500 after the commit) is a complete snapshot: Run says so, and keeps
// every part and no state behind.
func TestRun_AManifestStoredButReportedFailedIsComplete(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
	}{
		{"AlreadyExistsAfterALostResponse", faulty.ErrLostExists},
		{"ServerErrorAfterTheCommit", faulty.ErrAfterCommit},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tbl := newMemTable(100)
			under := newDirBucket(t)
			b := faulty.New(under, faulty.Rule{Ops: faulty.Create, Key: faulty.Suffix("/" + writer.ManifestName), Stored: true, Err: tc.err, Times: 1})
			j, m, err := runJob(t, tbl.db(), b, testConfig(tbl.name), nil)
			if err != nil {
				t.Fatalf("Run = %v, want success: the manifest is stored", err)
			}
			if len(b.Fired()) != 1 {
				t.Fatalf("the manifest write was not faulted: %+v", b.Fired())
			}
			got, rows := readSnapshot(t, under, tbl.name, j.ID())
			sameRows(t, rows, tbl.expected(t))
			if got.ItemCount != 100 || len(got.Parts) != len(m.Parts) {
				t.Errorf("stored manifest holds %d items in %d parts; Run returned %d parts", got.ItemCount, len(got.Parts), len(m.Parts))
			}
			// The snapshot deletes nothing: its state stays, for retention to delete with it.
			if objs, _ := under.List(t.Context(), writer.SnapshotDir(tbl.name, j.ID())+stateDir); len(objs) == 0 {
				t.Errorf("no state left after the manifest: the job deleted it")
			}
		})
	}
}

// TestDescribeManifest_RecordsTheRegionAndAGlobalTable reads a global table's description
// from the fake server's DescribeTable (DynamoDB Local has no global tables) with the real
// SDK client.
func TestDescribeManifest_RecordsTheRegionAndAGlobalTable(t *testing.T) {
	s := fakestreams.NewServer(fakestreams.Options{Region: "eu-west-1"})
	t.Cleanup(s.Close)
	if _, err := s.CreateTable(fakestreams.TableSpec{Name: "orders", StreamViewType: "NEW_AND_OLD_IMAGES",
		GlobalTableVersion: globaltable.Version2019, Replicas: []string{"us-east-1", "eu-west-1"}}); err != nil {
		t.Fatal(err)
	}
	out, err := dynamodb.NewFromConfig(s.Config()).DescribeTable(t.Context(), &dynamodb.DescribeTableInput{TableName: aws.String("orders")})
	if err != nil {
		t.Fatal(err)
	}
	m := describeManifest(out.Table)
	if m.Region != "eu-west-1" || m.GlobalTableVersion != globaltable.Version2019 || !slices.Equal(m.Replicas, []string{"eu-west-1", "us-east-1"}) {
		t.Errorf("manifest region %q, version %q, replicas %v", m.Region, m.GlobalTableVersion, m.Replicas)
	}
	m.FormatVersion, m.SnapshotID, m.StartedAt, m.FinishedAt = writer.ManifestFormatVersion, "s1", time.Unix(1, 0).UTC(), time.Unix(2, 0).UTC()
	data, err := writer.EncodeManifest(m)
	if err != nil {
		t.Fatal(err)
	}
	back, err := writer.DecodeManifest(data)
	if err != nil || back.Region != m.Region || !slices.Equal(back.Replicas, m.Replicas) {
		t.Errorf("manifest read back: %+v, %v", back, err)
	}
}
