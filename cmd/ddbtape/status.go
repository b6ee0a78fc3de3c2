package main

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/ddbtape/ddbtape/catalog"
	ckdynamo "github.com/ddbtape/ddbtape/checkpoint/dynamodb"
	"github.com/ddbtape/ddbtape/progress"
	"github.com/ddbtape/ddbtape/restore"
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
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	if err := st.WriteText(e.stdout, *src.source); err != nil {
		return err
	}
	if hasLock {
		fmt.Fprintln(e.stdout, "\n"+lock.Line())
	}
	if !hasReport {
		fmt.Fprintf(e.stdout, "\nverification: none recorded (schedule one with verify.every in ddbtape run)\n")
	} else if err := rep.WriteText(e.stdout); err != nil {
		return err
	}
	writeRestoreLogs(e, logs, *src.source, *src.table)
	if leases, ok := bk.checkpoints.(*ckdynamo.Store); ok {
		fmt.Fprintln(e.stdout)
		return leases.WriteLeases(ctx, e.stdout, *src.table, time.Now())
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
func writeRestoreLogs(e *env, logs []restore.LogHeader, source, table string) {
	if len(logs) == 0 {
		return
	}
	fmt.Fprintf(e.stdout, "\nwrites into the live table (undo one with ddbtape undo --source %s --table %s --restore ID --yes):\n", source, table)
	for _, h := range logs {
		fmt.Fprintf(e.stdout, "  %s  %s by %s: %s, %s  (%s)\n", h.ID, h.Finished.Format(time.RFC3339), h.Who, progress.Count(h.Puts, "put"), progress.Count(h.Deletes, "delete"), h.Command)
	}
}
