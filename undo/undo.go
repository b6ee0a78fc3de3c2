package undo

import (
	"context"
	"fmt"
	"time"

	"github.com/ddbtape/ddbtape/catalog"
	"github.com/ddbtape/ddbtape/restore"
)

// Request is one undo: of an event (Event), of an interval (From, To), or of what a
// restore log recorded (RestoreID).
type Request struct {
	Event     string
	From, To  time.Time
	RestoreID string
	Options
	// Show is told the plan before anything is written.
	Show func(Plan)
	// DryRun stops once the plan is shown; without Yes, Run stops there too, with
	// restore.ErrNotConfirmed.
	DryRun, Yes bool
	// Guard tunes the writes; Run fills in the key names.
	Guard restore.GuardOptions
	// Command and Who go into the restore log of the writes; TempDir holds its spool.
	Command, Who, TempDir string
}

// Result says what Run planned and wrote.
type Result struct {
	Plan    Plan
	Written restore.GuardStats
	// LogID is the restore log of the writes ("" when nothing was written): undo
	// --restore LogID reverts them.
	LogID string
}

// Run plans the undo req asks for against table (the backed-up table of cat), shows it,
// and with req.Yes writes it, guarded, recording the writes in a restore log beside the
// backup.
func Run(ctx context.Context, cat *catalog.Catalog, api API, table string, req Request) (Result, error) {
	var res Result
	var err error
	switch {
	case req.RestoreID != "":
		res.Plan, _, err = Restore(ctx, cat.Bucket(), api, table, req.RestoreID, req.Overwrite)
	case req.Event != "":
		res.Plan, err = Event(ctx, cat, api, table, req.Event, req.Options)
	default:
		res.Plan, err = Interval(ctx, cat, api, table, req.From, req.To, req.Options)
	}
	if err != nil {
		return res, err
	}
	if req.Show != nil {
		req.Show(res.Plan)
	}
	switch {
	case len(res.Plan.Steps) == 0:
		return res, nil
	case req.DryRun:
		return res, nil
	case !req.Yes:
		return res, restore.ErrNotConfirmed
	}
	all, err := cat.Snapshots(ctx)
	if err != nil {
		return res, err
	}
	snaps := catalog.CompleteSnapshots(all)
	if len(snaps) == 0 {
		return res, fmt.Errorf("no complete snapshot of %s tells its key schema", table)
	}
	req.Guard.KeyNames = restore.KeyNames(snaps[len(snaps)-1].Manifest)
	log, err := restore.NewLog(cat.Bucket(), table, req.Command, req.Who, req.TempDir)
	if err != nil {
		return res, err
	}
	req.Guard.Written = log.Add
	res.Written, err = Apply(ctx, api, table, res.Plan, req.Guard)
	if lerr := log.Store(ctx); lerr != nil && err == nil {
		err = lerr
	}
	if log.Written() > 0 {
		res.LogID = log.ID()
	}
	return res, err
}
