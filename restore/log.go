package restore

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"path"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/ddbtape/ddbtape/storage"
)

// A restore log records what one write into a live table (restore --yes into the table
// itself, undo --yes) wrote, beside the backup: <table>/restores/<id>.jsonl, a header line
// (LogHeader) and then a line per change written (a Change: the key, the item written,
// and what the table held before, which an undo puts back). It is written once the
// writes are done, created only if absent, and never rewritten.

// LogsPrefix is where a table's restore logs are.
func LogsPrefix(table string) string { return table + "/restores/" }

// LogHeader says what wrote, when and what.
type LogHeader struct {
	ID       string    `json:"id"`
	Command  string    `json:"command"` // the command line, for people
	Table    string    `json:"table"`   // the table written
	Who      string    `json:"who"`
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
	Puts     int64     `json:"puts"`
	Deletes  int64     `json:"deletes"`
}

// ErrNoLog means no restore log has the id asked for.
var ErrNoLog = errors.New("no restore log with that id: ddbtape status lists them")

// Log collects the changes a write into a live table made, in a temporary file, until
// Store. Add is safe from several goroutines.
type Log struct {
	bucket storage.Bucket
	backup string // the backed-up table, whose prefix holds the log
	header LogHeader
	mu     sync.Mutex
	f      *os.File
	w      *bufio.Writer
	err    error
}

// NewLog starts the log of a write into table by command, made by who (Who), to be stored
// in bucket beside the backup of table; its spool is under dir (empty: the system's
// temporary directory).
func NewLog(b storage.Bucket, table, command, who, dir string) (*Log, error) {
	f, err := os.CreateTemp(dir, "ddbtape-log-*.jsonl")
	if err != nil {
		return nil, fmt.Errorf("create the restore log's file: %w", err)
	}
	now := time.Now().UTC()
	var r [3]byte
	_, _ = rand.Read(r[:])
	h := LogHeader{ID: now.Format("20060102T150405Z") + "-" + hex.EncodeToString(r[:]), Command: command, Table: table, Who: who, Started: now}
	return &Log{bucket: b, backup: table, header: h, f: f, w: bufio.NewWriter(f)}, nil
}

// ID is the log's id, what undo --restore takes.
func (l *Log) ID() string { return l.header.ID }

// Add records a change written.
func (l *Log) Add(c Change) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if c.Delete() {
		l.header.Deletes++
	} else {
		l.header.Puts++
	}
	b, err := json.Marshal(c)
	if err == nil {
		b = append(b, '\n')
		_, err = l.w.Write(b)
	}
	if err != nil && l.err == nil {
		l.err = err
	}
}

// Written is the number of changes recorded.
func (l *Log) Written() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.header.Puts + l.header.Deletes
}

// Store writes the log beside the backup and removes the spool; a log that recorded
// nothing is not stored (Written says so).
func (l *Log) Store(ctx context.Context) error {
	defer l.Close()
	if l.err != nil {
		return fmt.Errorf("restore log: %w", l.err)
	}
	if err := l.w.Flush(); err != nil {
		return fmt.Errorf("restore log: %w", err)
	}
	if l.Written() == 0 {
		return nil
	}
	l.header.Finished = time.Now().UTC()
	hb, err := json.Marshal(l.header)
	if err != nil {
		return err
	}
	if _, err := l.f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("restore log: %w", err)
	}
	key := LogsPrefix(l.backup) + l.header.ID + ".jsonl"
	if err := l.bucket.Create(ctx, key, io.MultiReader(bytes.NewReader(append(hb, '\n')), l.f)); err != nil {
		return fmt.Errorf("store restore log %s: %w", key, err)
	}
	return nil
}

// Close removes the spool.
func (l *Log) Close() {
	if l.f != nil {
		l.f.Close()
		os.Remove(l.f.Name())
		l.f = nil
	}
}

// ReadLog reads restore log id of table, calling fn for each change it records; a missing
// log is an error wrapping ErrNoLog.
func ReadLog(ctx context.Context, b storage.Bucket, table, id string, fn func(Change) error) (LogHeader, error) {
	if id == "" || strings.ContainsAny(id, "/\\") {
		return LogHeader{}, fmt.Errorf("restore log %q: %w", id, ErrNoLog)
	}
	rc, err := b.Open(ctx, LogsPrefix(table)+id+".jsonl")
	if errors.Is(err, storage.ErrNotFound) {
		return LogHeader{}, fmt.Errorf("restore log %s of %s: %w", id, table, ErrNoLog)
	}
	if err != nil {
		return LogHeader{}, err
	}
	defer rc.Close()
	dec := json.NewDecoder(bufio.NewReader(rc))
	var h LogHeader
	if err := dec.Decode(&h); err != nil {
		return h, fmt.Errorf("restore log %s: %w", id, err)
	}
	for fn != nil {
		var c Change
		err := dec.Decode(&c)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return h, fmt.Errorf("restore log %s: %w", id, err)
		}
		if err := fn(c); err != nil {
			return h, err
		}
	}
	return h, nil
}

// ListLogs returns the headers of table's restore logs, oldest first.
func ListLogs(ctx context.Context, b storage.Bucket, table string) ([]LogHeader, error) {
	objs, err := b.List(ctx, LogsPrefix(table))
	if err != nil {
		return nil, err
	}
	var out []LogHeader
	for _, o := range objs {
		id := strings.TrimSuffix(path.Base(o.Key), ".jsonl")
		h, err := ReadLog(ctx, b, table, id, nil)
		if err != nil {
			return nil, err
		}
		out = append(out, h)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Started.Before(out[j].Started) })
	return out, nil
}

// Who names the person or process writing for a restore log: DDBTAPE_USER as getenv
// gives it, or else the OS user at the host.
func Who(getenv func(string) string) string {
	if u := getenv("DDBTAPE_USER"); u != "" {
		return u
	}
	name := "unknown"
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	if h, err := os.Hostname(); err == nil {
		name += "@" + h
	}
	return name
}
