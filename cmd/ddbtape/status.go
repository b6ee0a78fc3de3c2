package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ddbtape/ddbtape/catalog"
	ckdynamo "github.com/ddbtape/ddbtape/checkpoint/dynamodb"
	"github.com/ddbtape/ddbtape/ledger"
	"github.com/ddbtape/ddbtape/progress"
	"github.com/ddbtape/ddbtape/verify"
)

const statusUsage = "--source URL --table NAME [--json]"

func runStatus(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "status", statusUsage)
	var src sourceFlags
	src.register(fs)
	asJSON := fs.Bool("json", false, "print the status as one JSON document")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := src.validate(); err != nil {
		return err
	}
	_, bk, err := src.open(ctx, e, false)
	if err != nil {
		return err
	}
	st := catalog.Summarize(bk.listing)
	rep, hasReport, err := verify.ReadReport(ctx, bk.bucket, *src.table)
	if err != nil {
		return err
	}
	lock, hasLock, err := catalog.ObjectLock(ctx, bk.bucket, bk.listing, time.Now())
	if err != nil {
		return err
	}
	if *asJSON {
		out := statusJSON{Status: st}
		if hasReport {
			out.Verification = &rep
		}
		if hasLock {
			out.ObjectLock = &lock
		}
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	if err := printStatus(e.stdout, st, *src.source); err != nil {
		return err
	}
	if hasLock {
		fmt.Fprintln(e.stdout, "\n"+lockLine(lock))
	}
	if err := printVerification(e.stdout, rep, hasReport); err != nil {
		return err
	}
	if leases, ok := bk.checkpoints.(*ckdynamo.Store); ok {
		fmt.Fprintln(e.stdout)
		return printLeases(ctx, e.stdout, leases, *src.table, time.Now())
	}
	return nil
}

// statusJSON is what status --json prints: the catalog's status and the last scheduled
// verification's report.
type statusJSON struct {
	catalog.Status
	Verification *verify.Report      `json:"verification,omitempty"`
	ObjectLock   *catalog.LockStatus `json:"object_lock,omitempty"`
}

// lockLine says what S3 Object Lock holds of the backup.
func lockLine(l catalog.LockStatus) string {
	if !l.Enabled {
		return "object lock: none (the bucket does not have S3 Object Lock: anyone allowed to delete can delete the backup)"
	}
	modes := "no retention on the objects checked"
	if len(l.Modes) > 0 {
		modes = strings.Join(l.Modes, " and ")
	}
	s := fmt.Sprintf("object lock: %s", modes)
	if l.DefaultMode != "" {
		s += fmt.Sprintf(" (bucket default: %s for %s)", l.DefaultMode, l.DefaultPeriod)
	}
	switch {
	case l.Checked == 0:
		return s + "; nothing stored yet"
	case l.Unlocked > 0:
		return s + fmt.Sprintf("; earliest deletion: now (%d of the %d oldest objects checked are past their lock or have none)", l.Unlocked, l.Checked)
	}
	return s + fmt.Sprintf("; earliest deletion: %s (the first lock to end among the %d oldest objects)", l.EarliestDeletion.UTC().Format(time.RFC3339), l.Checked)
}

// printVerification says how the last scheduled verification went.
func printVerification(w io.Writer, r verify.Report, ok bool) error {
	if !ok {
		_, err := fmt.Fprintf(w, "\nverification: none recorded (schedule one with verify.every in ddbtape run)\n")
		return err
	}
	ts := func(t time.Time) string {
		if t.IsZero() {
			return "never"
		}
		return t.UTC().Format(time.RFC3339)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\nverification: %s, finished %s (last pass: %s)\n", strings.ToUpper(r.Result), ts(r.FinishedAt), ts(r.LastPassAt))
	if r.Result == verify.Error {
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

func printStatus(w io.Writer, st catalog.Status, source string) error {
	ts := func(t time.Time) string {
		if t.IsZero() {
			return "-"
		}
		return t.UTC().Format(time.RFC3339)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "table %s in %s\n", st.Table, source)
	switch {
	case len(st.Regions) > 1:
		fmt.Fprintf(&b, "region: several (%s): a backup holds one region's stream, so nothing is restorable; keep one region's files\n", strings.Join(st.Regions, ", "))
	case st.Region != "":
		fmt.Fprintf(&b, "region: %s\n", st.Region)
	}
	if st.Global != nil {
		fmt.Fprintf(&b, "%s: the backup holds the stream of region %s, which carries every region's writes; a restore creates a single-region table\n", st.Global, st.Region)
	}
	switch len(st.Sources) {
	case 0:
		b.WriteString("coverage: none recorded (capture has not run)\n\n")
	default:
		fmt.Fprintf(&b, "coverage from: %s\n\n", strings.Join(st.Sources, " and "))
	}
	if len(st.Windows) == 0 {
		b.WriteString("restorable: nothing yet (needs a complete snapshot and a capture that has caught up)\n")
	} else {
		fmt.Fprintf(&b, "restorable: earliest %s, latest %s\n", ts(st.Earliest), ts(st.Latest))
		for _, w := range st.Windows {
			first, last := w.Seconds()
			fmt.Fprintf(&b, "  window %s to %s (opened by snapshot %s)\n", first.Format(time.RFC3339Nano), last.Format(time.RFC3339Nano), w.SnapshotID)
		}
	}
	fmt.Fprintf(&b, "last captured change: %s\n", ts(st.LastChange))
	fmt.Fprintf(&b, "segments: %d (%s)\n\n", st.Segments, progress.Bytes(st.SegmentBytes))

	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "STREAM\tCREATED\tVIEW\tSTATE\n")
	for _, s := range st.Streams {
		state := "current"
		if s.Replaced {
			state = "replaced (its era ends where its least covered shard stops)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", ledger.StreamLabel(s.ARN), ts(s.Created), s.ViewType, state)
	}
	if len(st.Streams) == 0 {
		fmt.Fprintf(tw, "(none recorded)\n")
	}
	tw.Flush()
	b.WriteString("\n")

	tw = tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "SNAPSHOT\tSTATE\tSTARTED\tFINISHED\tITEMS\tPARTS\tSIZE\n")
	for _, s := range st.Snapshots {
		state := "complete"
		switch {
		case !s.Complete:
			state = "incomplete"
		case s.OtherRegion:
			state = "complete, of region " + s.Region + "'s replica: cannot be combined with this backup's stream"
		case s.Alone:
			state = "complete, before the stream: restore it alone with --snapshot " + s.ID
		case s.Method == "compaction":
			state = "complete (compaction)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%s\n", s.ID, state, ts(s.StartedAt), ts(s.FinishedAt), s.Items, s.Parts, progress.Bytes(s.Bytes))
	}
	if len(st.Snapshots) == 0 {
		fmt.Fprintf(tw, "(none)\n")
	}
	tw.Flush()
	b.WriteString("\n")

	tw = tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "SHARD\tPARENT\tSTART\tCOVERED\tLAST SEQUENCE\tSTATE\n")
	for _, s := range st.Shards {
		state := "open"
		if s.Finished {
			state = "finished"
		}
		var spans []string
		for _, sp := range s.Spans {
			if sp.ToEnd {
				spans = append(spans, ts(sp.From)+" to its end")
			} else {
				spans = append(spans, ts(sp.From)+" to "+ts(sp.Until))
			}
		}
		if len(spans) == 0 {
			spans = []string{"not read yet"}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", s.ShardID, dash(s.ParentID), dash(s.Start), strings.Join(spans, ", "), dash(s.LastSequence), state)
	}
	if len(st.Shards) == 0 {
		fmt.Fprintf(tw, "(no shard recorded: capture has not run)\n")
	}
	tw.Flush()

	if len(st.Gaps) > 0 {
		fmt.Fprintf(&b, "\nGAPS (a restore across one fails; a new snapshot starts a new window):\n")
		for _, g := range st.Gaps {
			from := "the shard's start"
			if !g.From.IsZero() {
				from = ts(g.From)
			}
			what := "shard " + g.ShardID
			if g.ShardID == ledger.AllShards {
				what = "every shard"
			}
			fmt.Fprintf(&b, "  %s from %s to %s (%s): %s\n", what, from, ts(g.To), g.Cause, g.Reason)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
