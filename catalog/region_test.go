package catalog

import (
	"errors"
	"strings"
	"testing"

	"github.com/ddbtape/ddbtape/checkpoint"
	"github.com/ddbtape/ddbtape/globaltable"
)

const euStream = "arn:aws:dynamodb:eu-west-1:123456789012:table/orders/stream/2026-03-01T00:00:00.000"

func inRegion(s Snapshot, region string) Snapshot {
	m := *s.Manifest
	m.Region = region
	s.Manifest = &m
	return s
}

// TestPlan_UsesOnlySnapshotsOfTheBackupsRegion: a snapshot scanned in another region's
// replica of a global table does not line up with this region's stream, so it opens no
// window and no plan starts from it, however new it is; status says why.
func TestPlan_UsesOnlySnapshotsOfTheBackupsRegion(t *testing.T) {
	l := Listing{Table: testTable, Ledger: FromCheckpoint(table(shard("s1", "", "08:00:00", "12:00:00"))),
		Snapshots: []Snapshot{inRegion(snap("us", "09:00:00", "09:10:00"), "us-east-1"), inRegion(snap("eu", "10:00:00", "10:10:00"), "eu-west-1")}}
	p, err := NewPlan(l, at("11:00:00"))
	if err != nil {
		t.Fatal(err)
	}
	if p.Snapshot.ID != "us" || p.Region != "us-east-1" {
		t.Errorf("plan from %s in region %q, want the us-east-1 snapshot", p.Snapshot.ID, p.Region)
	}
	if ws := Windows(l); len(ws) != 1 || ws[0].SnapshotID != "us" || !ws[0].From.Equal(at("09:10:00")) {
		t.Errorf("windows %v, want one opened by the us-east-1 snapshot", ws)
	}
	only := Listing{Table: testTable, Ledger: l.Ledger, Snapshots: l.Snapshots[1:]}
	_, err = NewPlan(only, at("11:00:00"))
	if !errors.Is(err, ErrNoCoverage) || !strings.Contains(err.Error(), "run ddbtape snapshot against region us-east-1") {
		t.Errorf("plan with only the eu-west-1 snapshot: %v, want no coverage, asking for a snapshot in us-east-1", err)
	}
	st := Summarize(l)
	if st.Region != "us-east-1" || len(st.Regions) != 0 {
		t.Errorf("status region %q (%v), want us-east-1", st.Region, st.Regions)
	}
	for _, s := range st.Snapshots {
		if s.OtherRegion != (s.ID == "eu") {
			t.Errorf("snapshot %s: other region %v", s.ID, s.OtherRegion)
		}
	}
}

// TestPlan_RefusesABackupHoldingTwoRegionsStreams: capture never writes such a backup;
// files copied in from another region's backup make every plan fail, naming both.
func TestPlan_RefusesABackupHoldingTwoRegionsStreams(t *testing.T) {
	cp := table(shard("s1", "", "08:00:00", "12:00:00"))
	cp.Shards["e1"] = checkpoint.Position{StreamARN: euStream, ShardID: "e1", CoveredFrom: at("08:00:00"), CoveredUntil: at("12:00:00")}
	l := Listing{Table: testTable, Ledger: FromCheckpoint(cp), Snapshots: []Snapshot{snap("s", "09:00:00", "09:10:00")}}
	_, err := NewPlan(l, at("11:00:00"))
	if !errors.Is(err, globaltable.ErrOtherRegion) || !strings.Contains(err.Error(), "eu-west-1 and us-east-1") {
		t.Fatalf("plan = %v, want ErrOtherRegion naming both regions", err)
	}
	if _, err := Resolve(l, At{Latest: true}); !errors.Is(err, globaltable.ErrOtherRegion) {
		t.Errorf("resolve latest = %v, want the regions named", err)
	}
	if ws := Windows(l); len(ws) != 0 {
		t.Errorf("windows %v, want none", ws)
	}
	if st := Summarize(l); len(st.Regions) != 2 {
		t.Errorf("status regions %v, want both", st.Regions)
	}
}
