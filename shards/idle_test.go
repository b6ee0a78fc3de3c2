package shards

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ddbtape/ddbtape/internal/fakestreams"
)

// An idle shard costs at most 60 GetRecords an hour by default (the idle backoff reaches
// one poll a minute), and a write after an hour of idleness is read within a minute (the
// default roll age, so the backup's lag does not grow). On a fake clock: no sleeping.
func TestReader_AnIdleShardPollsAtMostSixtyTimesAnHourAndReadsAResumedWriteWithinAMinute(t *testing.T) {
	clock := &env{clock: time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)} // its Sleep moves its clock
	e := newEnvWith(t, fakestreams.Options{Now: clock.now})
	e.addShard("s1", "")
	r := e.reader()
	r.Sleep, r.Now = clock.sleep, clock.now
	start := clock.now()
	var (
		inSecondHour int
		written      time.Time
	)
	errRead := errors.New("read the resumed write")
	err := r.Read(context.Background(), e.shard("s1"), "", TrimHorizon, func(_ context.Context, b Batch) error {
		now := clock.now()
		if len(b.Records) > 0 {
			if d := now.Sub(written); d > time.Minute {
				t.Errorf("a write made after two idle hours was read %s later, want within a minute", d)
			}
			return errRead
		}
		if since := now.Sub(start); since >= time.Hour && since < 2*time.Hour {
			inSecondHour++
		}
		if written.IsZero() && now.Sub(start) >= 2*time.Hour {
			written = now
			e.appendN("s1", 0, 1)
		}
		return nil
	})
	if !errors.Is(err, errRead) {
		t.Fatalf("Read = %v, want the resumed write read", err)
	}
	if inSecondHour > 60 {
		t.Errorf("an idle shard made %d GetRecords calls in an hour, want at most 60", inSecondHour)
	}
	if inSecondHour < 30 {
		t.Errorf("an idle shard made only %d calls in an hour: its coverage would go stale", inSecondHour)
	}
}
