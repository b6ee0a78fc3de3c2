package restore

import (
	"bufio"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// ErrFileExists means the output file of a restore exists already; pass --force to replace it.
var ErrFileExists = errors.New("output file exists: choose another path or pass --force to replace it")

// File is a Target that writes restored items in the format of DynamoDB's export to S3:
// one {"Item":{...}} per line in DynamoDB JSON, gzipped when the path ends in .gz. It
// writes to a temporary name beside the path and renames it into place only in Commit,
// so a failed or interrupted restore leaves no partial file under the real name.
type File struct {
	path  string
	force bool
	f     *os.File
	bw    *bufio.Writer
	gz    *gzip.Writer
	w     io.Writer
	items int64
	done  bool
}

// CreateFile starts the output. Without force, an existing file at path is an error
// wrapping ErrFileExists, checked now and again at Commit.
func CreateFile(path string, force bool) (*File, error) {
	if !force {
		if _, err := os.Lstat(path); err == nil {
			return nil, fmt.Errorf("%s: %w", path, ErrFileExists)
		}
	}
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return nil, fmt.Errorf("create output file: %w", err)
	}
	out := &File{path: path, force: force, f: f, bw: bufio.NewWriterSize(f, 1<<20)}
	out.w = out.bw
	if strings.HasSuffix(path, ".gz") {
		out.gz = gzip.NewWriter(out.bw)
		out.w = out.gz
	}
	return out, nil
}

var _ Target = (*File)(nil)

// Put adds one item, DynamoDB JSON.
func (o *File) Put(_ context.Context, _, item string, _ Action) error { return o.Write(item) }

// Delete fails: a file starts empty, so a restore never deletes from one.
func (o *File) Delete(_ context.Context, key string) error {
	return fmt.Errorf("delete %s from %s: a restored file holds nothing to delete", key, o.path)
}

// Write adds one item, DynamoDB JSON.
func (o *File) Write(item string) error {
	if _, err := io.WriteString(o.w, `{"Item":`); err != nil {
		return o.writeErr(err)
	}
	if _, err := io.WriteString(o.w, item); err != nil {
		return o.writeErr(err)
	}
	if _, err := io.WriteString(o.w, "}\n"); err != nil {
		return o.writeErr(err)
	}
	o.items++
	return nil
}

func (o *File) writeErr(err error) error {
	return fmt.Errorf("write %s: %w", o.f.Name(), err)
}

// Items is the number of items written so far.
func (o *File) Items() int64 { return o.items }

// String says what the restore does, for progress: "write PATH".
func (o *File) String() string { return "write " + o.path }

// Path is where the file goes.
func (o *File) Path() string { return o.path }

// Commit flushes, syncs and moves the file to its path.
func (o *File) Commit(context.Context) error {
	if o.done {
		return errors.New("output file already committed or aborted")
	}
	if o.gz != nil {
		if err := o.gz.Close(); err != nil {
			return o.writeErr(err)
		}
	}
	if err := o.bw.Flush(); err != nil {
		return o.writeErr(err)
	}
	if err := o.f.Sync(); err != nil {
		return o.writeErr(err)
	}
	if err := o.f.Close(); err != nil {
		return o.writeErr(err)
	}
	tmp := o.f.Name()
	o.done = true
	if o.force {
		if err := os.Rename(tmp, o.path); err != nil {
			_ = os.Remove(tmp)
			return fmt.Errorf("move output into place: %w", err)
		}
		return syncDir(o.path)
	}
	// A hard link fails if the path appeared meanwhile, so a file created by someone
	// else during the restore is never replaced.
	if err := os.Link(tmp, o.path); err != nil {
		_ = os.Remove(tmp)
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("%s: %w", o.path, ErrFileExists)
		}
		return fmt.Errorf("move output into place: %w", err)
	}
	_ = os.Remove(tmp)
	return syncDir(o.path)
}

// Abort removes the temporary file and returns err; after Commit it removes nothing.
func (o *File) Abort(err error) error {
	if o.done {
		return err
	}
	o.done = true
	_ = o.f.Close()
	_ = os.Remove(o.f.Name())
	return err
}

// syncDir makes the rename durable.
func syncDir(path string) error {
	d, err := os.Open(filepath.Dir(path))
	if err != nil {
		return nil // the file is in place; a directory we cannot open cannot be synced
	}
	defer d.Close()
	_ = d.Sync()
	return nil
}
