package verify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"time"

	"github.com/ddbtape/ddbtape/catalog"
	"github.com/ddbtape/ddbtape/replay"
	"github.com/ddbtape/ddbtape/restore"
	"github.com/ddbtape/ddbtape/retry"
	"github.com/ddbtape/ddbtape/writer"
)

// API is what a verification asks of DynamoDB: the live table's key schema and a Scan.
type API interface {
	restore.DescribeAPI
	restore.ScanAPI
}

// SampleTotal is the number of Scan segments a sampled run splits the table into: the
// sample is a run of them, so its granularity is a thousandth of the key space.
const SampleTotal = 1000

// Defaults of Config.
const (
	DefaultWorkers        = 4
	DefaultRecheckWithin  = 10 * time.Minute
	DefaultPollEvery      = 5 * time.Second
	DefaultMaxDifferences = 1 << 20
	// maxExamples bounds the mismatching keys a report lists.
	maxExamples = 20
)

// Config tunes Run. Zero fields take the defaults.
type Config struct {
	// Sample is the fraction of the key space compared, in (0, 1]; 0 or 1: the whole
	// table. StartSegment is where a sampled run starts (a report's NextSegment).
	Sample       float64
	StartSegment int
	// Workers is how many Scan segments are read at once (DefaultWorkers); MaxRCU caps
	// the read capacity units the Scan consumes per second (0: no cap).
	Workers int
	MaxRCU  float64
	// RecheckWithin bounds the wait for capture to cover the Scan's end before differing
	// items are re-checked (DefaultRecheckWithin); PollEvery is how often the backup is
	// looked at meanwhile (DefaultPollEvery).
	RecheckWithin time.Duration
	PollEvery     time.Duration
	// MaxDifferences bounds how many differing keys are held for the re-check.
	MaxDifferences int
	// TempDir and Parallelism are the merge's (replay.Options).
	TempDir     string
	Parallelism int
	// Reader reads the backup's files (nil: a replay.BucketReader over the catalog's bucket).
	Reader replay.Reader
	// Hold tunes the retention lock held while the backup is read.
	Hold   catalog.HoldOptions
	Now    func() time.Time
	Logger *slog.Logger
}

func (c *Config) defaults(cat *catalog.Catalog) {
	if c.Sample <= 0 || c.Sample > 1 {
		c.Sample = 1
	}
	if c.Workers <= 0 {
		c.Workers = DefaultWorkers
	}
	if c.RecheckWithin <= 0 {
		c.RecheckWithin = DefaultRecheckWithin
	}
	if c.PollEvery <= 0 {
		c.PollEvery = DefaultPollEvery
	}
	if c.MaxDifferences <= 0 {
		c.MaxDifferences = DefaultMaxDifferences
	}
	if c.Reader == nil {
		c.Reader = replay.NewBucketReader(cat.Bucket(), cat.Table(), c.TempDir)
	}
	if c.Hold.Purpose == "" {
		c.Hold.Purpose = "verify"
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// SampleSegments returns the Scan segments a run reading the fraction sample of the table
// reads, starting at segment start: ceil(sample * SampleTotal) of SampleTotal, wrapping
// around; and where the next run starts. A sample of 1 or more is the whole table.
func SampleSegments(sample float64, start int) (segs []int, s Segments, next int) {
	count := int(math.Ceil(sample * SampleTotal))
	count = min(max(count, 1), SampleTotal)
	first := ((start % SampleTotal) + SampleTotal) % SampleTotal
	for i := range count {
		segs = append(segs, (first+i)%SampleTotal)
	}
	return segs, Segments{Total: SampleTotal, First: first, Count: count}, (first + count) % SampleTotal
}

// Run verifies the backup that cat reads against the live table of the same name, as the
// package doc says, and returns its report. The result is Pass or Fail when it finished;
// when it could not (the backup unreadable, the table unreachable, capture not covering
// the Scan's end in time) the report says Error and the error is returned with it. An
// error wrapping catalog.ErrNoCoverage means nothing is restorable yet.
func Run(ctx context.Context, cat *catalog.Catalog, api API, cfg Config) (Report, error) {
	cfg.defaults(cat)
	rep := Report{Table: cat.Table(), StartedAt: cfg.Now().UTC(), Sample: cfg.Sample}
	err := cat.PlanHeld(ctx, catalog.At{Latest: true}, catalog.PlanOptions{HoldOptions: cfg.Hold}, func(ctx context.Context, p catalog.Plan) error {
		rep.At, rep.SnapshotID = p.At, p.Snapshot.ID
		return compare(ctx, cat, api, cfg, p, &rep)
	})
	rep.FinishedAt = cfg.Now().UTC()
	if err != nil {
		rep.Result, rep.Error = Error, err.Error()
		return rep, err
	}
	rep.Result = Pass
	if rep.Mismatches > 0 {
		rep.Result = Fail
	} else {
		rep.LastPassAt = rep.FinishedAt
	}
	return rep, nil
}

// compare merges the backup at p.At with the Scan, then re-checks what differs.
func compare(ctx context.Context, cat *catalog.Catalog, api API, cfg Config, p catalog.Plan, rep *Report) error {
	keyNames, err := restore.CheckKeySchema(ctx, api, cat.Table(), p.Snapshot.Manifest)
	if err != nil {
		return err
	}
	scan := restore.ScanOptions{Workers: cfg.Workers, MaxRCU: cfg.MaxRCU}
	sampled := cfg.Sample < 1
	if sampled {
		var s Segments
		scan.Segments, s, rep.NextSegment = SampleSegments(cfg.Sample, cfg.StartSegment)
		scan.TotalSegments = s.Total
		rep.Segments = &s
	}
	diffs := NewDifferences(p.At, cfg.MaxDifferences)
	opts := replay.Options{TempDir: cfg.TempDir, Parallelism: cfg.Parallelism, Live: restore.LiveScan(api, cat.Table(), keyNames, scan)}
	_, err = replay.Apply(ctx, p, cfg.Reader, opts, func(en replay.Entry) error {
		if sampled && !en.HasHave {
			return nil // maybe in a segment this run did not read
		}
		rep.Compared++
		a, err := restore.Classify(en)
		if err != nil {
			return err
		}
		kind := ""
		switch a {
		case restore.Unchanged:
			rep.Matching++
			return nil
		case restore.Insert:
			rep.Missing++
			kind = Missing
		case restore.Delete:
			rep.Extra++
			kind = Extra
		case restore.Update:
			rep.Different++
			kind = Different
		}
		return diffs.Add(en.Key, kind, en.Have, en.HasHave)
	})
	if err != nil {
		return err
	}
	rep.ScanFinishedAt = cfg.Now().UTC()
	if diffs.Len() > 0 {
		cfg.Logger.Info("verify: items differ; re-checking them against the changes captured after the moment verified, once capture covers the scan's end",
			"at", p.At, "differing", diffs.Len(), "scan_finished", rep.ScanFinishedAt)
		// Changes up to the Scan's end (with room for this host's clock trailing
		// DynamoDB's) can be what it read; the backup must hold all of them first.
		through := rep.ScanFinishedAt.Add(clockSlack)
		if _, err := waitCovered(ctx, cat, cfg, through, diffs.Len()); err != nil {
			return err
		}
		rep.RecheckedThrough = through
		if err := recheck(ctx, cat, cfg.Reader, diffs, p.At, through); err != nil {
			return err
		}
	}
	var mismatches []Mismatch
	rep.Expected, mismatches = diffs.Result()
	rep.Mismatches = int64(len(mismatches))
	rep.Examples = mismatches[:min(len(mismatches), maxExamples)]
	return nil
}

// clockSlack is how far this host's clock may trail DynamoDB's: a change the Scan read
// may be stamped that much after the Scan's end by this host's clock.
const clockSlack = 2 * time.Second

// ErrNotCovered means capture did not cover the Scan's end in time, so the differences
// could not be told apart.
var ErrNotCovered = errors.New("capture did not cover the end of the scan in time, so differing items could not be re-checked: check that capture runs and keeps up (ddbtape status), or raise the re-check wait")

// waitCovered waits until the restorable window reaches target: then every change made
// before the Scan ended is stored. It returns the window end it saw.
func waitCovered(ctx context.Context, cat *catalog.Catalog, cfg Config, target time.Time, differing int) (time.Time, error) {
	// The wait is measured on this host's monotonic clock, whatever cfg.Now says.
	deadline := time.Now().Add(cfg.RecheckWithin)
	var last time.Time
	for {
		l, err := cat.Coverage(ctx)
		if err != nil {
			return time.Time{}, err
		}
		end, ok := catalog.WindowEnd(l)
		if ok && !end.Before(target) {
			return end, nil
		}
		last = end
		if !time.Now().Before(deadline) {
			return time.Time{}, fmt.Errorf("%w (%d items differ; scan ended %s, window end %s after waiting %s)",
				ErrNotCovered, differing, target.Format(time.RFC3339), formatEnd(last), cfg.RecheckWithin)
		}
		if err := retry.Sleep(ctx, cfg.PollEvery); err != nil {
			return time.Time{}, err
		}
	}
}

func formatEnd(t time.Time) string {
	if t.IsZero() {
		return "none"
	}
	return t.UTC().Format(time.RFC3339)
}

// recheck reads the changes stamped in (at, through] and lets them explain differences.
func recheck(ctx context.Context, cat *catalog.Catalog, r replay.Reader, diffs *Differences, at, through time.Time) error {
	l, err := cat.List(ctx)
	if err != nil {
		return err
	}
	for _, seg := range l.SegmentsBetween(at, through) {
		err := r.ReadSegment(ctx, seg, func(c *writer.Change) error {
			if c.ApproximateCreationTime.After(through) {
				return nil // after the Scan ended: it cannot be what the Scan read
			}
			return diffs.Explain(c)
		})
		if err != nil {
			return err
		}
	}
	return nil
}
