package verify

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ddbtape/ddbtape/storage/dir"
)

func TestReport_RoundTripsThroughTheDestination(t *testing.T) {
	ctx := context.Background()
	b, err := dir.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if _, ok, err := ReadReport(ctx, b, "orders"); ok || err != nil {
		t.Fatalf("no report yet: ok %v, err %v", ok, err)
	}
	r := Report{Table: "orders", Result: Fail, StartedAt: m0, FinishedAt: m0.Add(time.Minute), At: m0.Add(-time.Minute), SnapshotID: "s1",
		Sample: 0.5, Segments: &Segments{Total: SampleTotal, First: 10, Count: 500}, Compared: 9, Matching: 7, Different: 2, Expected: 1, Mismatches: 1,
		Examples: []Mismatch{{Key: key("a"), Kind: Different}}, LastPassAt: m0.Add(-time.Hour), NextSegment: 510}
	if err := WriteReport(ctx, b, r); err != nil {
		t.Fatal(err)
	}
	r.Result = Pass // a second report replaces the first
	if err := WriteReport(ctx, b, r); err != nil {
		t.Fatal(err)
	}
	got, ok, err := ReadReport(ctx, b, "orders")
	if err != nil || !ok || !reflect.DeepEqual(got, r) {
		t.Fatalf("read back %+v (ok %v, err %v), want %+v", got, ok, err, r)
	}
	if err := b.Put(ctx, ReportKey("orders"), strings.NewReader("{not json")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := ReadReport(ctx, b, "orders"); err == nil || !strings.Contains(err.Error(), "delete it") {
		t.Errorf("a damaged report: %v, want an error saying to delete it", err)
	}
}
