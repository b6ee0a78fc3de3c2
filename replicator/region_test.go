package replicator

import (
	"errors"
	"strings"
	"testing"

	"github.com/ddbtape/ddbtape/globaltable"
	"github.com/ddbtape/ddbtape/internal/fakestreams"
)

// TestCapture_RefusesAnotherRegionsStreamOfAGlobalTable captures the us-east-1 replica of a
// global table, then points a capture of the eu-west-1 replica, whose stream carries the
// same writes, at the same destination: it is refused before anything is written, naming
// both regions, and the backup keeps one region's segments.
func TestCapture_RefusesAnotherRegionsStreamOfAGlobalTable(t *testing.T) {
	id := fakestreams.ShardID(1)
	f := newFixture(t, id)
	if _, err := f.fake.AppendRecords(id, item("a", 1)); err != nil {
		t.Fatal(err)
	}
	if err := f.run(t, nil); err != nil {
		t.Fatal(err)
	}
	before := len(f.stored(t)[id])

	other := fakestreams.NewServer(fakestreams.Options{Region: "eu-west-1"})
	t.Cleanup(other.Close)
	arn, err := other.CreateTable(fakestreams.TableSpec{Name: "orders", StreamViewType: "NEW_AND_OLD_IMAGES",
		GlobalTableVersion: globaltable.Version2019, Replicas: []string{"us-east-1", "eu-west-1"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := other.AddShard(arn, fakestreams.ShardID(7), ""); err != nil {
		t.Fatal(err)
	}
	if _, err := other.AppendRecords(fakestreams.ShardID(7), item("a", 1)); err != nil {
		t.Fatal(err)
	}
	f.fake = other
	err = f.run(t, nil)
	if !errors.Is(err, globaltable.ErrOtherRegion) {
		t.Fatalf("capture of eu-west-1 into a us-east-1 backup = %v, want ErrOtherRegion", err)
	}
	for _, want := range []string{"region eu-west-1", "region us-east-1's stream", "--region us-east-1"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	got := f.stored(t)
	if len(got) != 1 || len(got[id]) != before {
		t.Errorf("the refused capture stored segments: %v", got)
	}
}
