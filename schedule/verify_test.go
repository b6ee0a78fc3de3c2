package schedule

import (
	"testing"
	"time"

	"github.com/ddbtape/ddbtape/metrics"
	"github.com/ddbtape/ddbtape/verify"
)

func TestVerifyDue_EveryAfterTheLastRunAndSoonerAfterAnError(t *testing.T) {
	every := 24 * time.Hour
	passed := &verify.Report{Result: verify.Pass, StartedAt: hm(1, 0), FinishedAt: hm(1, 30)}
	failed := &verify.Report{Result: verify.Fail, StartedAt: hm(2, 0), FinishedAt: hm(2, 30)}
	broken := &verify.Report{Result: verify.Error, StartedAt: hm(3, 0), FinishedAt: hm(3, 10)}
	cases := []struct {
		name     string
		last     *verify.Report
		failures int
		want     time.Time
	}{
		{"never verified: at once", nil, 0, time.Time{}},
		{"a pass: every after its start", passed, 0, hm(25, 0)},
		{"a failure is not hurried: its report stands until the next run", failed, 0, hm(26, 0)},
		{"an error after a restart: 30 s after it", broken, 0, hm(3, 10).Add(30 * time.Second)},
		{"errors in a row back off", broken, 3, hm(3, 10).Add(2 * time.Minute)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := verifyDue(every, c.last, c.failures); !got.Equal(c.want) {
				t.Errorf("due %s, want %s", got, c.want)
			}
		})
	}
}

func TestNextReport_KeepsTheLastPassAndTheSampleRotation(t *testing.T) {
	last := &verify.Report{Result: verify.Pass, LastPassAt: hm(1, 0), NextSegment: 300}
	failed := nextReport(verify.Report{Result: verify.Fail, NextSegment: 400}, last)
	if !failed.LastPassAt.Equal(hm(1, 0)) || failed.NextSegment != 400 {
		t.Errorf("after a failure: last pass %s, next segment %d; want the previous pass and the run's next segment", failed.LastPassAt, failed.NextSegment)
	}
	broken := nextReport(verify.Report{Result: verify.Error, NextSegment: 400}, last)
	if !broken.LastPassAt.Equal(hm(1, 0)) || broken.NextSegment != 300 {
		t.Errorf("after an error: last pass %s, next segment %d; want the previous pass and the same part again", broken.LastPassAt, broken.NextSegment)
	}
	passed := nextReport(verify.Report{Result: verify.Pass, LastPassAt: hm(5, 0)}, last)
	if !passed.LastPassAt.Equal(hm(5, 0)) {
		t.Errorf("after a pass: last pass %s, want this run's", passed.LastPassAt)
	}
	if first := nextReport(verify.Report{Result: verify.Fail}, nil); !first.LastPassAt.IsZero() {
		t.Errorf("a first run that failed has a last pass %s", first.LastPassAt)
	}
	m := verificationMetrics(verify.Report{Result: verify.Fail, Compared: 9, Mismatches: 2, Expected: 1, LastPassAt: hm(1, 0)})
	if m != (metrics.Verification{Result: metrics.VerifyFail, Compared: 9, Mismatches: 2, Expected: 1, LastPass: hm(1, 0)}) {
		t.Errorf("metrics of a report: %+v", m)
	}
}
