package catalog

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ddbtape/ddbtape/ledger"
	"github.com/ddbtape/ddbtape/progress"
)

// WriteText writes the status for people, as `ddbtape status` prints it; source names
// where the backup is.
func (st Status) WriteText(w io.Writer, source string) error {
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
