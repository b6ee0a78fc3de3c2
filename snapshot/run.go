package snapshot

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"

	"golang.org/x/sync/errgroup"

	"github.com/ddbtape/ddbtape/storage"
	"github.com/ddbtape/ddbtape/writer"
)

// Stats counts what a run did.
type Stats struct {
	Items     int64 // items read by this run
	Pages     int64
	Parts     int64 // parts stored by this run
	Retries   int64 // page attempts that failed and were retried
	Throttles int64 // of those, how many were throttling
	Orphans   int64 // parts of interrupted runs left out of the manifest (retention deletes them)
}

type stats struct {
	items, pages, parts, retries, throttles, orphans atomic.Int64
}

// Stats is what this run has done so far; safe to call while Run is running.
func (j *Job) Stats() Stats {
	return Stats{
		Items: j.stats.items.Load(), Pages: j.stats.pages.Load(), Parts: j.stats.parts.Load(),
		Retries: j.stats.retries.Load(), Throttles: j.stats.throttles.Load(), Orphans: j.stats.orphans.Load(),
	}
}

type nopProgress struct{}

func (nopProgress) Add(int64, int64) {}

// Run scans every segment not yet done, Workers at a time, then writes the manifest and
// returns it. On failure no manifest is written and the error says how to resume; what was
// stored stays, and a later Prepare with this id continues from it. Call Run once per Job,
// and run one process at a time per snapshot id: segment states have no lease.
func (j *Job) Run(ctx context.Context, p Progress) (writer.Manifest, error) {
	if p == nil {
		p = nopProgress{}
	}
	m, err := j.run(ctx, p)
	if err != nil {
		return writer.Manifest{}, fmt.Errorf("snapshot %s is incomplete, no manifest written (continue it with --resume %s): %w",
			j.ID(), j.ID(), err)
	}
	return m, nil
}

func (j *Job) run(ctx context.Context, p Progress) (writer.Manifest, error) {
	existing, err := j.listParts(ctx)
	if err != nil {
		return writer.Manifest{}, err
	}
	// Part numbers are never reused: an orphan of a crashed run may hold any number up to
	// the highest one present, and a new part must not collide with it.
	var next atomic.Int64
	for _, n := range existing {
		next.Store(max(next.Load(), int64(n)+1))
	}
	for _, s := range j.segments {
		for _, mp := range s.Parts {
			if n, ok := partNumber(mp.Name); ok {
				next.Store(max(next.Load(), int64(n)+1))
			}
		}
	}

	// Every segment gets its state before the workers start, so the map is only read
	// concurrently; each state belongs to the one worker that scans its segment.
	for seg := range j.job.TotalSegments {
		if j.segments[seg] == nil {
			j.segments[seg] = &segmentState{Segment: seg}
		}
	}
	todo := make(chan *segmentState)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		defer close(todo)
		for seg := range j.job.TotalSegments {
			if st := j.segments[seg]; !st.Done {
				select {
				case todo <- st:
				case <-gctx.Done():
					return nil
				}
			}
		}
		return nil
	})
	for range j.cfg.Workers {
		g.Go(func() error {
			for st := range todo {
				if err := j.scanSegment(gctx, st, &next, p); err != nil {
					return err
				}
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return writer.Manifest{}, err
	}
	if err := ctx.Err(); err != nil {
		return writer.Manifest{}, err
	}
	return j.finish(ctx, existing)
}

// finish writes the manifest of a snapshot whose segments are all done.
func (j *Job) finish(ctx context.Context, existing map[string]int) (writer.Manifest, error) {
	m := j.table
	m.SnapshotID = j.job.SnapshotID
	m.StartedAt = j.job.StartedAt
	m.FinishedAt = j.cfg.Now().UTC()
	m.Parts = []writer.ManifestPart{}
	for seg := range j.job.TotalSegments {
		s := j.segments[seg]
		if s == nil || !s.Done {
			return writer.Manifest{}, fmt.Errorf("segment %d is not done", seg)
		}
		var rows int64
		for _, mp := range s.Parts {
			rows += mp.Rows
		}
		if rows != s.Rows {
			return writer.Manifest{}, fmt.Errorf("%w: segment %d counts %d rows but its parts hold %d", ErrStateCorrupt, seg, s.Rows, rows)
		}
		m.ItemCount += s.Rows
		m.Parts = append(m.Parts, s.Parts...)
	}
	slices.SortFunc(m.Parts, func(a, b writer.ManifestPart) int { return strings.Compare(a.Name, b.Name) })

	// Parts of an interrupted run that no segment recorded are orphans: never in the
	// manifest, so never read. They stay, like the state: the snapshot job deletes nothing
	// (it runs with capture's permissions, and under Object Lock it could not), and
	// retention deletes a snapshot's directory whole.
	inManifest := map[string]bool{}
	for _, mp := range m.Parts {
		inManifest[mp.Name] = true
	}
	for name := range existing {
		if !inManifest[name] {
			j.stats.orphans.Add(1)
			j.cfg.Logger.Info("a part of an interrupted run that no segment recorded stays out of the manifest (retention deletes it with the snapshot)", "snapshot", j.ID(), "part", name)
		}
	}

	data, err := writer.EncodeManifest(m)
	if err != nil {
		return writer.Manifest{}, err
	}
	// A write that reports failure but stored this manifest is success (see CreateManifest):
	// the snapshot is complete, and nothing is deleted on failure anyway.
	if err := writer.CreateManifest(ctx, j.state, writer.ManifestName, data); err != nil {
		if errors.Is(err, storage.ErrExists) {
			return writer.Manifest{}, fmt.Errorf("write manifest: another run finished this snapshot first: %w", err)
		}
		return writer.Manifest{}, fmt.Errorf("write manifest: %w", err)
	}
	// The state stays: retention deletes it with the snapshot.
	return m, nil
}

// listParts returns the part files present in the snapshot directory, by name, with their
// numbers, whether or not a segment recorded them.
func (j *Job) listParts(ctx context.Context) (map[string]int, error) {
	objs, err := j.state.List(ctx, "part-")
	if err != nil {
		return nil, fmt.Errorf("list parts: %w", err)
	}
	out := map[string]int{}
	for _, o := range objs {
		if n, ok := partNumber(o.Key); ok {
			out[o.Key] = n
		}
	}
	return out, nil
}

// partNumber reads n from writer.PartName(n); ok is false for other names (temporary files
// of an interrupted upload, state).
func partNumber(name string) (int, bool) {
	digits, ok := strings.CutPrefix(name, "part-")
	if !ok {
		return 0, false
	}
	digits, ok = strings.CutSuffix(digits, ".parquet")
	if !ok || digits == "" || strings.Trim(digits, "0123456789") != "" {
		return 0, false
	}
	n, err := strconv.Atoi(digits)
	if err != nil || writer.PartName(n) != name {
		return 0, false
	}
	return n, true
}
