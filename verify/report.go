package verify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/ddbtape/ddbtape/storage"
)

// Results of a verification (Report.Result).
const (
	Pass  = "pass"  // every item equal, or different because of a write after M
	Fail  = "fail"  // some item differs that no later change explains
	Error = "error" // the verification did not finish; nothing is concluded
)

// Report is what a verification found: the small JSON document kept in the destination.
type Report struct {
	Table      string    `json:"table"`
	Result     string    `json:"result"`
	StartedAt  time.Time `json:"started_at"`
	FinishedAt time.Time `json:"finished_at"`
	// At is the moment M verified, and SnapshotID the snapshot its restore started from.
	At         time.Time `json:"at,omitzero"`
	SnapshotID string    `json:"snapshot_id,omitempty"`
	// Sample is the fraction of the key space read; Segments which Scan segments.
	Sample   float64   `json:"sample"`
	Segments *Segments `json:"scan_segments,omitempty"`
	// ScanFinishedAt is when the Scan ended; differences were re-checked with the changes
	// captured up to RecheckedThrough (at or after it).
	ScanFinishedAt   time.Time `json:"scan_finished_at,omitzero"`
	RecheckedThrough time.Time `json:"rechecked_through,omitzero"`
	// Compared items: Matching equal, then Missing, Extra and Different before the
	// re-check; of those, Expected were explained by later changes and Mismatches were not.
	Compared   int64 `json:"items_compared"`
	Matching   int64 `json:"matching"`
	Missing    int64 `json:"missing"`
	Extra      int64 `json:"extra"`
	Different  int64 `json:"different"`
	Expected   int64 `json:"expected_differences"`
	Mismatches int64 `json:"mismatches"`
	// Examples are some of the mismatching keys.
	Examples []Mismatch `json:"mismatch_examples,omitempty"`
	// Error says why a verification with Result Error did not finish.
	Error string `json:"error,omitempty"`
	// LastPassAt is when the newest passing verification finished (this one, or one
	// before it); zero when none has.
	LastPassAt time.Time `json:"last_pass_at,omitzero"`
	// NextSegment is where the next sampled run starts, so that runs cover the table.
	NextSegment int `json:"next_segment,omitempty"`
}

// Segments are the Scan segments a sampled run read: Count of them from First, of Total.
type Segments struct {
	Total int `json:"total"`
	First int `json:"first"`
	Count int `json:"count"`
}

// ReportKey is where the latest report of table is kept.
func ReportKey(table string) string { return table + "/verify.json" }

// WriteReport replaces the stored report of r.Table with r.
func WriteReport(ctx context.Context, b storage.Bucket, r Report) error {
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("encode verification report: %w", err)
	}
	key := ReportKey(r.Table)
	if err := b.Put(ctx, key, bytes.NewReader(append(data, '\n'))); err != nil {
		return fmt.Errorf("write %s: %w", storage.URL(b, key), err)
	}
	return nil
}

// ReadReport reads the stored report of table; ok is false when there is none.
func ReadReport(ctx context.Context, b storage.Bucket, table string) (r Report, ok bool, err error) {
	key := ReportKey(table)
	rc, err := b.Open(ctx, key)
	if errors.Is(err, storage.ErrNotFound) {
		return Report{}, false, nil
	}
	if err != nil {
		return Report{}, false, fmt.Errorf("read %s: %w", storage.URL(b, key), err)
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, 1<<20))
	if err != nil {
		return Report{}, false, fmt.Errorf("read %s: %w", storage.URL(b, key), err)
	}
	if err := json.Unmarshal(data, &r); err != nil {
		return Report{}, false, fmt.Errorf("verification report %s is not readable (%v): delete it, the next verification writes a new one", storage.URL(b, key), err)
	}
	return r, true, nil
}

// WriteText writes how the verification went for people, as `ddbtape status` prints it.
func (r Report) WriteText(w io.Writer) error {
	ts := func(t time.Time) string {
		if t.IsZero() {
			return "never"
		}
		return t.UTC().Format(time.RFC3339)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\nverification: %s, finished %s (last pass: %s)\n", strings.ToUpper(r.Result), ts(r.FinishedAt), ts(r.LastPassAt))
	if r.Result == Error {
		fmt.Fprintf(&b, "  did not finish: %s\n", r.Error)
	} else {
		what := "the whole table"
		if r.Segments != nil {
			what = fmt.Sprintf("%.4g%% of the key space (scan segments %d-%d of %d)", r.Sample*100, r.Segments.First, (r.Segments.First+r.Segments.Count-1)%r.Segments.Total, r.Segments.Total)
		}
		fmt.Fprintf(&b, "  the backup at %s (snapshot %s) against %s: %d items compared, %d matching, %d differing because of later writes, %d mismatches\n",
			ts(r.At), r.SnapshotID, what, r.Compared, r.Matching, r.Expected, r.Mismatches)
	}
	for _, m := range r.Examples {
		fmt.Fprintf(&b, "  mismatch: %s %s\n", m.Kind, m.Key)
	}
	_, err := io.WriteString(w, b.String())
	return err
}
