package restore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/ddbtape/ddbtape/replay"
	"github.com/ddbtape/ddbtape/retry"
	"github.com/ddbtape/ddbtape/writer"
)

// API is the part of the DynamoDB client a restore into a table uses.
type API interface {
	TableAPI
	BatchWriteAPI
	ScanAPI
}

// createWait bounds the wait for a created table to become ACTIVE.
const createWait = 10 * time.Minute

// Table is a Target that writes a DynamoDB table with parallel BatchWriteItem calls
// (a load's writers, started by the first write): a new table (NewTable, then Create), or
// the existing one (ExistingTable), a Holder read with a Scan so that only what differs
// is written.
type Table struct {
	api    API
	name   string
	create *dynamodb.CreateTableInput // a new table's; nil for the existing one
	opts   LoadOptions
	live   replay.LiveSource

	// active, once Create asked for the table, is closed when it is ACTIVE (activeErr
	// set before): the first write waits for it, not Create.
	active    chan struct{}
	activeErr error

	l     *loader
	stats LoadStats
	ended bool // finished or aborted
}

var _ Holder = (*Table)(nil)

// NewTable returns the table name, to be created by Create from the schema of manifest m
// (keys, indexes, billing mode and throughput; no stream: a restored table is not a
// capture source until someone enables one), then loaded with o. It does no I/O.
func NewTable(api API, name string, m *writer.Manifest, o LoadOptions) (*Table, error) {
	in, err := createTableInput(name, m)
	if err != nil {
		return nil, err
	}
	return &Table{api: api, name: name, create: in, opts: o}, nil
}

// Create creates the new table; an existing table of that name is an error wrapping
// ErrTableExists. It returns once DynamoDB accepted the creation: the first write (or
// Commit) waits for the table to become ACTIVE, so that reading and merging the backup
// go on while the table is created.
func (t *Table) Create(ctx context.Context) error {
	if t.create == nil {
		return fmt.Errorf("create table %s: it is the existing table restored into", t.name)
	}
	if err := createTable(ctx, t.api, t.create); err != nil {
		return err
	}
	t.active = make(chan struct{})
	go func() {
		defer close(t.active)
		t.activeErr = waitActive(ctx, t.api, t.create, createWait)
	}()
	return nil
}

// ready waits until a table Create asked for is ACTIVE.
func (t *Table) ready() error {
	if t.active == nil {
		return nil
	}
	<-t.active
	return t.activeErr
}

// ExistingTable returns the existing table name as a Target made equal to the state at T:
// its key schema must be the backup's (manifest m), and it is read with a Scan of scan's
// segments and capacity, so that only what differs is written (with o). A missing table
// or one of another key is an error saying what to do.
func ExistingTable(ctx context.Context, api API, name string, m *writer.Manifest, scan ScanOptions, o LoadOptions) (*Table, error) {
	keyNames, err := checkTarget(ctx, api, name, m)
	if err != nil {
		return nil, err
	}
	return &Table{api: api, name: name, opts: o, live: LiveScan(api, name, keyNames, scan)}, nil
}

// checkTarget is CheckKeySchema, with what to do when the table is missing or of another key.
func checkTarget(ctx context.Context, api DescribeAPI, name string, m *writer.Manifest) ([]string, error) {
	names, err := CheckKeySchema(ctx, api, name, m)
	switch {
	case errors.Is(err, ErrKeySchema):
		return nil, fmt.Errorf("%w: restore into a new table with --create", err)
	case err != nil:
		return nil, fmt.Errorf("%w (add --create to make a new one)", err)
	}
	return names, nil
}

// Live is the existing table's Scan; nil for a new table.
func (t *Table) Live() replay.LiveSource { return t.live }

// Put writes item.
func (t *Table) Put(ctx context.Context, _, item string, _ Action) error {
	return t.send(ctx, Write{Item: item})
}

// Delete deletes key.
func (t *Table) Delete(ctx context.Context, key string) error {
	return t.send(ctx, Write{Key: key})
}

func (t *Table) send(ctx context.Context, w Write) error {
	if t.l == nil {
		if err := t.ready(); err != nil {
			return err
		}
		t.l = startLoad(ctx, t.api, t.name, t.opts)
	}
	return t.l.send(w)
}

// Commit writes what is left and waits for every write (and, with none, for the table
// to be ACTIVE).
func (t *Table) Commit(context.Context) error {
	if t.l == nil && !t.ended {
		t.ended = true
		return t.ready()
	}
	if t.l == nil || t.ended {
		return nil
	}
	t.ended = true
	var err error
	t.stats, err = t.l.finish()
	return err
}

// Abort stops the writers and returns err saying how far the writes got, so nobody has
// to guess what the table holds.
func (t *Table) Abort(err error) error {
	if t.active != nil {
		<-t.active // the wait ends with the restore's context
	}
	if t.l != nil && !t.ended {
		t.ended = true
		t.stats, err = t.l.abort(err)
	}
	if errors.Is(err, retry.ErrGaveUp) {
		return err // already counts what was written
	}
	return fmt.Errorf("%w (%d puts and %d deletes written, %d not written; run the restore again into the table, without --create: it writes only what still differs)",
		err, t.stats.Puts, t.stats.Deletes, t.stats.Unwritten)
}

// Written is what reached the table, once committed or aborted.
func (t *Table) Written() LoadStats { return t.stats }

// String says what the restore does to the table, for progress: "load NAME" into a new
// table, "sync NAME" into the existing one.
func (t *Table) String() string {
	if t.create != nil {
		return "load " + t.name
	}
	return "sync " + t.name
}

// Name is the table's name.
func (t *Table) Name() string { return t.name }
