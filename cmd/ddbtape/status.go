package main

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/ddbtape/ddbtape/catalog"
	ckdynamo "github.com/ddbtape/ddbtape/checkpoint/dynamodb"
	"github.com/ddbtape/ddbtape/internal/cli"
	"github.com/ddbtape/ddbtape/progress"
	"github.com/ddbtape/ddbtape/restore"
	"github.com/ddbtape/ddbtape/verify"
)

const statusUsage = "--source URL --table NAME [--json]"

func runStatus(ctx context.Context, e *cli.Env, args []string) error {
	fs := cli.NewFlagSet(e, "status", statusUsage)
	var src sourceFlags
	src.register(fs)
	asJSON := fs.Bool("json", false, "print the status as one JSON document")
	if err := cli.Parse(fs, args); err != nil {
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
	logs, err := restore.ListLogs(ctx, bk.bucket, *src.table)
	if err != nil {
		return err
	}
	if *asJSON {
		out := statusJSON{Status: st, Restores: logs}
		if hasReport {
			out.Verification = &rep
		}
		if hasLock {
			out.ObjectLock = &lock
		}
		enc := json.NewEncoder(e.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	if err := st.WriteText(e.Stdout, *src.source); err != nil {
		return err
	}
	if hasLock {
		fmt.Fprintln(e.Stdout, "\n"+lock.Line())
	}
	if !hasReport {
		fmt.Fprintf(e.Stdout, "\nverification: none recorded (schedule one with verify.every in ddbtape run)\n")
	} else if err := rep.WriteText(e.Stdout); err != nil {
		return err
	}
	writeRestoreLogs(e, logs, *src.source, *src.table)
	if leases, ok := bk.checkpoints.(*ckdynamo.Store); ok {
		fmt.Fprintln(e.Stdout)
		return leases.WriteLeases(ctx, e.Stdout, *src.table, time.Now())
	}
	return nil
}

// statusJSON is what status --json prints: the catalog's status and the last scheduled
// verification's report.
type statusJSON struct {
	catalog.Status
	Verification *verify.Report      `json:"verification,omitempty"`
	ObjectLock   *catalog.LockStatus `json:"object_lock,omitempty"`
	// Restores are the restore logs of writes into the live table (restore, undo).
	Restores []restore.LogHeader `json:"restores,omitempty"`
}

// writeRestoreLogs lists the writes into the live table that can be undone.
func writeRestoreLogs(e *cli.Env, logs []restore.LogHeader, source, table string) {
	if len(logs) == 0 {
		return
	}
	fmt.Fprintf(e.Stdout, "\nwrites into the live table (undo one with ddbtape undo --source %s --table %s --restore ID --yes):\n", source, table)
	for _, h := range logs {
		fmt.Fprintf(e.Stdout, "  %s  %s by %s: %s, %s  (%s)\n", h.ID, h.Finished.Format(time.RFC3339), h.Who, progress.Count(h.Puts, "put"), progress.Count(h.Deletes, "delete"), h.Command)
	}
}
