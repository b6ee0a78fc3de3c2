package restore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ddbtape/ddbtape/catalog"
	"github.com/ddbtape/ddbtape/replay"
)

// ErrDiffers means the backup and the table disagree (Verification.Err).
var ErrDiffers = errors.New("the backup does not match the table")

// verifyExamples bounds how many differing keys a verification lists.
const verifyExamples = 20

// VerifyAPI is what Verify asks of DynamoDB: the table's key schema and a Scan.
type VerifyAPI interface {
	DescribeAPI
	ScanAPI
}

// Verification is what Verify found.
type Verification struct {
	Table string
	At    time.Time
	// Counts compare the backup at At with the table: Unchanged items match, Inserts are
	// missing from the table, Deletes are extra in it, Updates are different.
	Counts Counts
	// Examples are the first differing keys, a line each: "missing KEY", "different KEY"
	// or "extra KEY".
	Examples []string
	// Skipped is how many corrupt files SkipCorrupt skipped.
	Skipped int
}

// Err judges the verification: an error saying the backup is damaged when files were
// skipped, one wrapping ErrDiffers when items differ, nil when the backup holds what the
// table does.
func (v Verification) Err() error {
	c := v.Counts
	switch {
	case v.Skipped > 0:
		return fmt.Errorf("the backup is damaged: %s skipped (listed above); replace them from a copy of the backup, or take a new snapshot", corruptFiles(v.Skipped))
	case c.Inserts+c.Deletes+c.Updates > 0:
		return fmt.Errorf("%w at %s: %d missing, %d extra, %d different (writes after the backup's window end show as differences; run capture, then verify again)",
			ErrDiffers, v.At.Format(time.RFC3339), c.Inserts, c.Deletes, c.Updates)
	}
	return nil
}

// Verify compares the state p of the backup with the live table of the same name, read
// with a Scan of scan's segments and capacity, item by item, as a restore into that table
// would (with o; replication attributes are compared as they are). It writes nothing. The
// error is for a verification that could not finish; how it went is the Verification's
// Err.
func Verify(ctx context.Context, p catalog.Plan, api VerifyAPI, scan ScanOptions, o Options) (Verification, error) {
	v := Verification{Table: p.Table, At: p.At}
	keyNames, err := CheckKeySchema(ctx, api, p.Table, p.Snapshot.Manifest)
	switch {
	case errors.Is(err, ErrKeySchema):
		return v, fmt.Errorf("%w: the live table is not the one backed up (check --table, --region and --endpoint-url)", err)
	case err != nil:
		return v, fmt.Errorf("%w (verify compares the backup with the live table it was taken of: check --table, --region and --endpoint-url)", err)
	}
	o.KeepReplicationAttributes = true
	res, err := Run(ctx, p, &comparison{v: &v, live: LiveScan(api, p.Table, keyNames, scan)}, o)
	v.Counts, v.Skipped = res.Counts, res.Skipped
	return v, err
}

// comparison is the Target of Verify: it writes nothing and notes the first differences.
type comparison struct {
	v    *Verification
	live replay.LiveSource
}

func (c *comparison) Live() replay.LiveSource { return c.live }
func (c *comparison) String() string          { return "compare " + c.v.Table }

func (c *comparison) Put(_ context.Context, key, _ string, a Action) error {
	c.note(map[Action]string{Insert: "missing", Update: "different"}[a], key)
	return nil
}

func (c *comparison) Delete(_ context.Context, key string) error {
	c.note("extra", key)
	return nil
}

func (c *comparison) note(what, key string) {
	if len(c.v.Examples) < verifyExamples {
		c.v.Examples = append(c.v.Examples, what+" "+key)
	}
}

func (c *comparison) Commit(context.Context) error { return nil }
func (c *comparison) Abort(err error) error        { return err }
