package restore

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/ddbtape/ddbtape/replay"
)

// Planner is a Holder handed each write with what the table held when it was read
// (Change.Expect), so that the write can be made only where the table still holds it.
// Run calls Plan instead of Put and Delete.
type Planner interface {
	Holder
	Plan(ctx context.Context, c Change, a Action) error
}

// Pending is a Planner that writes nothing yet: it keeps every write a restore into the
// existing table needs in a temporary file (memory stays bounded), so that the plan is
// shown before anything is written; Each hands the writes back. With Diff set, every key
// that would change is written to it as a DryRun writes it.
type Pending struct {
	into *Table
	diff io.Writer
	path string
	f    *os.File
	w    *bufio.Writer
	enc  *json.Encoder
	n    int
}

var _ Planner = (*Pending)(nil)

// NewPending keeps the writes that would make table into equal to a state, in a
// temporary file under dir (empty: the system's). Close removes it.
func NewPending(into *Table, dir string, diff io.Writer) (*Pending, error) {
	f, err := os.CreateTemp(dir, "ddbtape-plan-*.jsonl")
	if err != nil {
		return nil, fmt.Errorf("create the plan's file: %w", err)
	}
	w := bufio.NewWriterSize(f, 64<<10)
	return &Pending{into: into, diff: diff, path: f.Name(), f: f, w: w, enc: json.NewEncoder(w)}, nil
}

// Live is the table's Scan.
func (p *Pending) Live() replay.LiveSource { return p.into.Live() }

// Plan keeps c.
func (p *Pending) Plan(_ context.Context, c Change, a Action) error {
	if p.diff != nil {
		sign := map[Action]string{Insert: "+", Update: "~", Delete: "-"}[a]
		if _, err := fmt.Fprintf(p.diff, "%s %s\n", sign, c.Key); err != nil {
			return err
		}
	}
	p.n++
	return p.enc.Encode(c)
}

// Put is not used: Run hands a Planner its writes through Plan.
func (p *Pending) Put(context.Context, string, string, Action) error {
	return errors.New("pending plan: Put called, want Plan")
}

// Delete is not used: Run hands a Planner its writes through Plan.
func (p *Pending) Delete(context.Context, string) error {
	return errors.New("pending plan: Delete called, want Plan")
}

// Commit makes the kept writes readable by Each.
func (p *Pending) Commit(context.Context) error {
	if err := p.w.Flush(); err != nil {
		return fmt.Errorf("write the plan's file: %w", err)
	}
	return nil
}

// Abort removes the file and returns err.
func (p *Pending) Abort(err error) error {
	p.Close()
	return err
}

// Close removes the file.
func (p *Pending) Close() {
	if p.f != nil {
		p.f.Close()
		os.Remove(p.path)
		p.f = nil
	}
}

// Len is the number of writes kept.
func (p *Pending) Len() int { return p.n }

// String says what the plan does, for progress.
func (p *Pending) String() string { return "compare " + p.into.Name() }

// Name is the table's name.
func (p *Pending) Name() string { return p.into.Name() }

// Each hands every kept write to yield, in the order they were kept.
func (p *Pending) Each(yield func(Change) error) error {
	if p.f == nil {
		return errors.New("pending plan: closed")
	}
	if _, err := p.f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("read the plan's file: %w", err)
	}
	dec := json.NewDecoder(bufio.NewReaderSize(p.f, 64<<10))
	for {
		var c Change
		err := dec.Decode(&c)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read the plan's file: %w", err)
		}
		if err := yield(c); err != nil {
			return err
		}
	}
}
