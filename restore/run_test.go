package restore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ddbtape/ddbtape/catalog"
	"github.com/ddbtape/ddbtape/replay"
	"github.com/ddbtape/ddbtape/writer"
)

func key(k string) string     { return fmt.Sprintf(`{"pk":{"S":%q}}`, k) }
func item(k, v string) string { return fmt.Sprintf(`{"pk":{"S":%q},"v":{"S":%q}}`, k, v) }

// snapshotPlan is the plan of a snapshot restored alone, of one part per item list.
func snapshotPlan(parts ...[]writer.SnapshotItem) (catalog.Plan, *partReader) {
	at := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	m := &writer.Manifest{SnapshotID: "s", TableName: "orders", StartedAt: at.Add(-time.Minute), FinishedAt: at}
	r := &partReader{parts: map[string][]writer.SnapshotItem{}, err: map[string]error{}}
	for i, items := range parts {
		name := fmt.Sprintf("part-%05d.parquet", i)
		m.Parts = append(m.Parts, writer.ManifestPart{Name: name, Rows: int64(len(items)), Bytes: 100})
		m.ItemCount += int64(len(items))
		r.parts[name] = items
	}
	return catalog.Plan{Table: "orders", At: at, Snapshot: catalog.Snapshot{ID: "s", Manifest: m}, ReplayFrom: at.Add(time.Millisecond)}, r
}

type partReader struct {
	parts map[string][]writer.SnapshotItem
	err   map[string]error
}

func (r *partReader) ReadPart(_ context.Context, _ string, part writer.ManifestPart, fn func(writer.SnapshotItem) error) error {
	if err := r.err[part.Name]; err != nil {
		return err
	}
	for _, it := range r.parts[part.Name] {
		if err := fn(it); err != nil {
			return err
		}
	}
	return nil
}

func (r *partReader) ReadSegment(context.Context, catalog.Segment, func(*writer.Change) error) error {
	return errors.New("no segments here")
}

func snapItem(k, v string) writer.SnapshotItem {
	return writer.SnapshotItem{Keys: key(k), Item: item(k, v)}
}

// recording is a Holder that notes what it is handed.
type recording struct {
	live      map[string]string
	calls     []string
	committed int
	aborted   error
	failPut   error
}

func (r *recording) Live() replay.LiveSource {
	if r.live == nil {
		return nil
	}
	return func(_ context.Context, fn func(keys, item string) error) error {
		for k, v := range r.live {
			if err := fn(k, v); err != nil {
				return err
			}
		}
		return nil
	}
}

func (r *recording) Put(_ context.Context, key, _ string, a Action) error {
	r.calls = append(r.calls, a.String()+" "+key)
	return r.failPut
}

func (r *recording) Delete(_ context.Context, key string) error {
	r.calls = append(r.calls, "delete "+key)
	return nil
}

func (r *recording) Commit(context.Context) error { r.committed++; return nil }
func (r *recording) Abort(err error) error        { r.aborted = err; return fmt.Errorf("aborted: %w", err) }

func TestRun_HandsAnEmptyTargetEveryItemAtT(t *testing.T) {
	p, r := snapshotPlan([]writer.SnapshotItem{snapItem("a", "1"), snapItem("b", "2")})
	tgt := &recording{}
	res, err := Run(t.Context(), p, tgt, Options{Reader: r, TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(tgt.calls)
	if want := []string{"insert " + key("a"), "insert " + key("b")}; !slices.Equal(tgt.calls, want) || tgt.committed != 1 || tgt.aborted != nil {
		t.Errorf("calls %v, committed %d, aborted %v", tgt.calls, tgt.committed, tgt.aborted)
	}
	if res.Counts != (Counts{Inserts: 2}) {
		t.Errorf("counts %+v", res.Counts)
	}
}

func TestRun_HandsAHolderOnlyWhatDiffers(t *testing.T) {
	p, r := snapshotPlan([]writer.SnapshotItem{snapItem("same", "1"), snapItem("changed", "new"), snapItem("new", "n")})
	tgt := &recording{live: map[string]string{key("same"): item("same", "1"), key("changed"): item("changed", "old"), key("extra"): item("extra", "x")}}
	res, err := Run(t.Context(), p, tgt, Options{Reader: r, TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(tgt.calls)
	if want := []string{"delete " + key("extra"), "insert " + key("new"), "update " + key("changed")}; !slices.Equal(tgt.calls, want) {
		t.Errorf("calls %v, want %v", tgt.calls, want)
	}
	if res.Counts != (Counts{Unchanged: 1, Inserts: 1, Updates: 1, Deletes: 1}) {
		t.Errorf("counts %+v", res.Counts)
	}
}

func TestRun_ADryRunCountsAndDiffsWithoutWriting(t *testing.T) {
	p, r := snapshotPlan([]writer.SnapshotItem{snapItem("same", "1"), snapItem("changed", "new"), snapItem("new", "n")})
	into := &recording{live: map[string]string{key("same"): item("same", "1"), key("changed"): item("changed", "old"), key("extra"): item("extra", "x")}}
	var diff strings.Builder
	res, err := Run(t.Context(), p, &DryRun{Into: into, Diff: &diff}, Options{Reader: r, TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if len(into.calls) != 0 || into.committed != 0 {
		t.Errorf("the dry run wrote to its target: %v, %d commits", into.calls, into.committed)
	}
	lines := strings.Split(strings.TrimSpace(diff.String()), "\n")
	slices.Sort(lines)
	if want := []string{"+ " + key("new"), "- " + key("extra"), "~ " + key("changed")}; !slices.Equal(lines, want) {
		t.Errorf("diff %q, want %q", lines, want)
	}
	if res.Counts != (Counts{Unchanged: 1, Inserts: 1, Updates: 1, Deletes: 1}) {
		t.Errorf("counts %+v", res.Counts)
	}
	if got := fmt.Sprint(&DryRun{Into: &Table{name: "orders", live: into.Live()}}); got != "compare orders" {
		t.Errorf("a dry run of the existing table says %q", got)
	}
	// Without a target to compare with, every item would be put.
	p, r = snapshotPlan([]writer.SnapshotItem{snapItem("a", "1"), snapItem("b", "2")})
	if res, err := Run(t.Context(), p, &DryRun{}, Options{Reader: r, TempDir: t.TempDir()}); err != nil || res.Counts != (Counts{Inserts: 2}) {
		t.Errorf("dry run of a new table: %+v, %v", res.Counts, err)
	}
}

func TestRun_AFailureAbortsTheTargetWithTheCause(t *testing.T) {
	p, r := snapshotPlan([]writer.SnapshotItem{snapItem("a", "1")})
	boom := errors.New("boom")
	tgt := &recording{failPut: boom}
	_, err := Run(t.Context(), p, tgt, Options{Reader: r, TempDir: t.TempDir()})
	if !errors.Is(err, boom) || !strings.HasPrefix(err.Error(), "aborted: ") || tgt.committed != 0 {
		t.Errorf("Run = %v, committed %d; want the target's abort of the cause", err, tgt.committed)
	}
}

func TestRun_ACorruptFileFailsSayingWhatToDoOrIsSkippedAndListed(t *testing.T) {
	p, r := snapshotPlan([]writer.SnapshotItem{snapItem("a", "1")}, []writer.SnapshotItem{snapItem("b", "2")})
	r.err["part-00001.parquet"] = fmt.Errorf("part-00001.parquet: %w", writer.ErrChecksum)
	_, err := Run(t.Context(), p, &recording{}, Options{Reader: r, TempDir: t.TempDir()})
	if !errors.Is(err, writer.ErrChecksum) || !strings.Contains(err.Error(), "rerun with --skip-corrupt") {
		t.Errorf("Run = %v, want the corrupt file and what to do", err)
	}
	var notes strings.Builder
	tgt := &recording{}
	res, err := Run(t.Context(), p, tgt, Options{Reader: SkipCorrupt(r), TempDir: t.TempDir(), Notes: &notes})
	if err != nil {
		t.Fatal(err)
	}
	if res.Skipped != 1 || len(tgt.calls) != 1 || !strings.Contains(notes.String(), "skipped corrupt file: part-00001.parquet") ||
		!strings.Contains(notes.String(), "the result is incomplete: 1 corrupt file skipped") {
		t.Errorf("skipped %d, calls %v, notes:\n%s", res.Skipped, tgt.calls, notes.String())
	}
}

func TestVerification_ErrJudgesTheResult(t *testing.T) {
	at := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	if err := (Verification{At: at, Counts: Counts{Unchanged: 5}}).Err(); err != nil {
		t.Errorf("a match: %v", err)
	}
	err := (Verification{At: at, Counts: Counts{Unchanged: 5, Inserts: 1, Deletes: 2, Updates: 3}}).Err()
	if !errors.Is(err, ErrDiffers) || !strings.Contains(err.Error(), "2026-03-01T10:00:00Z: 1 missing, 2 extra, 3 different") {
		t.Errorf("a difference: %v", err)
	}
	if err := (Verification{At: at, Skipped: 2}).Err(); err == nil || !strings.Contains(err.Error(), "the backup is damaged: 2 corrupt files skipped") {
		t.Errorf("a damaged backup: %v", err)
	}
}
