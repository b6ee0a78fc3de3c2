package replicator

import (
	"context"
	"fmt"
	"io"
	"time"

	"golang.org/x/sync/errgroup"

	count "github.com/ddbtape/ddbtape/progress"
)

// RunAll runs captures of several tables in one process. A failing one stops the others,
// which store and checkpoint what they read first.
func RunAll(ctx context.Context, captures []*Capture) error {
	g, gctx := errgroup.WithContext(ctx)
	for _, c := range captures {
		g.Go(func() error { return c.Run(gctx) })
	}
	return g.Wait()
}

// WriteSummary says on w what each capture stored in elapsed, a line per table (named
// when there are several); after a failure (failed), captures that read nothing are
// left out.
func WriteSummary(w io.Writer, captures []*Capture, elapsed time.Duration, failed bool) {
	for _, c := range captures {
		st := c.Stats()
		if failed && st.Records == 0 {
			continue
		}
		if len(captures) > 1 {
			fmt.Fprintf(w, "%s: ", c.cfg.Table)
		}
		fmt.Fprintf(w, "captured %s into %s in %s", count.Count(st.Records, "record"), count.Count(st.Segments, "segment"), elapsed.Round(time.Millisecond))
		if st.Gaps > 0 {
			fmt.Fprintf(w, "; %s recorded (see 'ddbtape status')", count.Count(st.Gaps, "gap"))
		}
		fmt.Fprintln(w)
	}
}
