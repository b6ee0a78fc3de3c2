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
	"github.com/ddbtape/ddbtape/progress"
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
	if *asJSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(st)
	}
	if err := printStatus(e.stdout, st, *src.source); err != nil {
		return err
	}
	if leases, ok := bk.checkpoints.(*ckdynamo.Store); ok {
		fmt.Fprintln(e.stdout)
		return printLeases(ctx, e.stdout, leases, *src.table, time.Now())
	}
	return nil
}

func printStatus(w io.Writer, st catalog.Status, source string) error {
	ts := func(t time.Time) string {
		if t.IsZero() {
			return "-"
		}
		return t.UTC().Format(time.RFC3339)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "table %s in %s\n\n", st.Table, source)

	if len(st.Windows) == 0 {
		b.WriteString("restorable: nothing yet (needs a complete snapshot and a capture that has caught up)\n")
	} else {
		fmt.Fprintf(&b, "restorable: earliest %s, latest %s\n", ts(st.Earliest), ts(st.Latest))
		for _, w := range st.Windows {
			fmt.Fprintf(&b, "  window %s to %s (opened by snapshot %s)\n", ts(w.From), ts(w.Until), w.SnapshotID)
		}
	}
	fmt.Fprintf(&b, "last captured change: %s\n", ts(st.LastChange))
	fmt.Fprintf(&b, "segments: %d (%s)\n\n", st.Segments, progress.Bytes(st.SegmentBytes))

	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "SNAPSHOT\tSTATE\tSTARTED\tFINISHED\tITEMS\tPARTS\tSIZE\n")
	for _, s := range st.Snapshots {
		state := "complete"
		if !s.Complete {
			state = "incomplete"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%s\n", s.ID, state, ts(s.StartedAt), ts(s.FinishedAt), s.Items, s.Parts, progress.Bytes(s.Bytes))
	}
	if len(st.Snapshots) == 0 {
		fmt.Fprintf(tw, "(none)\n")
	}
	tw.Flush()
	b.WriteString("\n")

	tw = tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "SHARD\tPARENT\tSEQUENCE\tCOVERED FROM\tCOVERED UNTIL\tSTATE\n")
	for _, s := range st.Shards {
		state := "open"
		switch {
		case s.Finished:
			state = "finished"
		case s.Leaf:
			state = "open (leaf)"
		}
		seq := s.SequenceNumber
		if seq == "" {
			seq = "-"
		}
		parent := s.ParentShardID
		if parent == "" {
			parent = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", s.ShardID, parent, seq, ts(s.CoveredFrom), ts(s.CoveredUntil), state)
	}
	if len(st.Shards) == 0 {
		fmt.Fprintf(tw, "(no checkpoint: capture has not run)\n")
	}
	tw.Flush()

	if len(st.Gaps) > 0 {
		fmt.Fprintf(&b, "\nGAPS (a restore across one fails; a new snapshot starts a new window):\n")
		for _, g := range st.Gaps {
			from := "the shard's start"
			if !g.From.IsZero() {
				from = ts(g.From)
			}
			fmt.Fprintf(&b, "  shard %s from %s to %s: %s\n", g.ShardID, from, ts(g.DetectedAt), g.Reason)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}
