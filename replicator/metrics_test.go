package replicator

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ddbtape/ddbtape/internal/fakestreams"
	"github.com/ddbtape/ddbtape/metrics"
	"github.com/ddbtape/ddbtape/retry"
)

// countingRecorder counts the events the pipeline reports.
type countingRecorder struct {
	metrics.Nop
	records, segments, segmentRows, checkpoints, calls, throttles, retries, started, stopped atomic.Int64

	mu        sync.Mutex
	exhausted []string
	gaps      []string // causes
}

func (r *countingRecorder) RetriesExhausted(_, op string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.exhausted = append(r.exhausted, op)
}

func (r *countingRecorder) Gap(_, _, cause string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.gaps = append(r.gaps, cause)
}

func (r *countingRecorder) exhaustedOps() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.exhausted...)
}

func (r *countingRecorder) RecordsCaptured(_, _ string, n int, _ int64, _ time.Time) {
	r.records.Add(int64(n))
}
func (r *countingRecorder) SegmentWritten(_ string, rows int, _ int64) {
	r.segments.Add(1)
	r.segmentRows.Add(int64(rows))
}
func (r *countingRecorder) CheckpointSaved(_, _ string, _ time.Time) { r.checkpoints.Add(1) }
func (r *countingRecorder) GetRecordsCall(_, _ string)               { r.calls.Add(1) }
func (r *countingRecorder) Throttled(_, _ string)                    { r.throttles.Add(1) }
func (r *countingRecorder) Retried(_, _ string)                      { r.retries.Add(1) }
func (r *countingRecorder) ShardStarted(_, _ string)                 { r.started.Add(1) }
func (r *countingRecorder) ShardStopped(_, _ string)                 { r.stopped.Add(1) }

func TestCapture_ReportsMetrics(t *testing.T) {
	id := fakestreams.ShardID(1)
	f := newFixture(t, id)
	for i := 0; i < 20; i++ {
		if _, err := f.fake.AppendRecords(id, item(fmt.Sprintf("k%d", i), i)); err != nil {
			t.Fatal(err)
		}
	}
	f.fake.FailNext(fakestreams.OpGetRecords, 2, fakestreams.LimitExceeded)
	f.fake.FailNext(fakestreams.OpGetRecords, 1, fakestreams.InternalServerError)
	rec := &countingRecorder{}
	err := f.run(t, func(c *Config) {
		c.Metrics = rec
		c.Reader.Sleep = func(ctx context.Context, d time.Duration) error { return retry.Sleep(ctx, d/100) }
	})
	if err != nil {
		t.Fatal(err)
	}
	if rec.records.Load() != 20 || rec.segmentRows.Load() != 20 {
		t.Errorf("records reported %d, in segments %d; want 20", rec.records.Load(), rec.segmentRows.Load())
	}
	if rec.segments.Load() != 3 { // 7 + 7 + 6 with MaxRecords 7
		t.Errorf("segments reported %d, want 3", rec.segments.Load())
	}
	if rec.throttles.Load() != 2 || rec.retries.Load() != 3 {
		t.Errorf("throttles %d retries %d, want 2 and 3", rec.throttles.Load(), rec.retries.Load())
	}
	if got, want := rec.calls.Load(), f.fake.Calls(fakestreams.OpGetRecords); got != want {
		t.Errorf("GetRecords calls reported %d, the server saw %d", got, want)
	}
	if rec.checkpoints.Load() < 3 || rec.started.Load() != 1 || rec.stopped.Load() != 1 {
		t.Errorf("checkpoints %d, started %d, stopped %d", rec.checkpoints.Load(), rec.started.Load(), rec.stopped.Load())
	}
}
