package snapshot

import (
	"testing"

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
			if objs, _ := under.List(t.Context(), writer.SnapshotDir(tbl.name, j.ID())+stateDir); len(objs) != 0 {
				t.Errorf("state files left after the manifest: %v", objs)
			}
		})
	}
}
