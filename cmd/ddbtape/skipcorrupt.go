package main

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/ddbtape/ddbtape/catalog"
	"github.com/ddbtape/ddbtape/replay"
	"github.com/ddbtape/ddbtape/storage"
	"github.com/ddbtape/ddbtape/writer"
)

const skipCorruptUsage = "skip backup files that are damaged, truncated, of an unknown schema, not matching their manifest or missing, and list each with what is missing because of it (default: stop at the first)"

// corruptFile reports errors that mean a stored file cannot be used as it is.
func corruptFile(err error) bool {
	return errors.Is(err, writer.ErrCorrupt) || errors.Is(err, writer.ErrUnknownSchema) ||
		errors.Is(err, writer.ErrChecksum) || errors.Is(err, storage.ErrNotFound)
}

// backupReader reads a backup's files; with skip (--skip-corrupt) it skips the corrupt
// ones and keeps a list of them for the report.
func backupReader(b storage.Bucket, table, tempDir string, skip bool) replay.Reader {
	r := replay.NewBucketReader(b, table, tempDir)
	if !skip {
		return r
	}
	return &skippingReader{r: r}
}

// skippingReader is a replay.Reader that skips corrupt files instead of failing. Apply
// reads files in parallel, so it is safe for concurrent use.
type skippingReader struct {
	r replay.Reader

	mu      sync.Mutex
	skipped []string // one line per skipped file: what was wrong and what is missing
}

func (s *skippingReader) ReadPart(ctx context.Context, snapshotID string, part writer.ManifestPart, fn func(writer.SnapshotItem) error) error {
	var rows int64
	var fnErr error
	err := s.r.ReadPart(ctx, snapshotID, part, func(it writer.SnapshotItem) error {
		rows++
		fnErr = fn(it)
		return fnErr
	})
	if err == nil || fnErr != nil || !corruptFile(err) {
		return err
	}
	missing := fmt.Sprintf("the %d items of %s as the snapshot saw them (items changed after it are restored from the segments)", part.Rows, part.Name)
	s.skip(err, rows, missing)
	return nil
}

func (s *skippingReader) ReadSegment(ctx context.Context, seg catalog.Segment, fn func(*writer.Change) error) error {
	var rows int64
	var fnErr error
	err := s.r.ReadSegment(ctx, seg, func(c *writer.Change) error {
		rows++
		fnErr = fn(c)
		return fnErr
	})
	if err == nil || fnErr != nil || !corruptFile(err) {
		return err
	}
	missing := fmt.Sprintf("the changes of shard %s from sequence number %s to %s", seg.Name.ShardID, trimZeros(seg.Name.FirstSeq), trimZeros(seg.Name.LastSeq))
	s.skip(err, rows, missing)
	return nil
}

func (s *skippingReader) skip(err error, rowsRead int64, missing string) {
	line := fmt.Sprintf("skipped corrupt file: %v; missing from the result: %s", err, missing)
	if rowsRead > 0 {
		line += fmt.Sprintf(" (its first %d rows were read and are used)", rowsRead)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.skipped = append(s.skipped, line)
}

// corruptFiles says "1 corrupt file" or "n corrupt files".
func corruptFiles(n int) string {
	if n == 1 {
		return "1 corrupt file"
	}
	return fmt.Sprintf("%d corrupt files", n)
}

func trimZeros(seq string) string {
	if t := strings.TrimLeft(seq, "0"); t != "" {
		return t
	}
	return "0"
}

// skippedFiles is how many files --skip-corrupt skipped so far.
func (r *runner) skippedFiles() int {
	s, ok := r.reader.(*skippingReader)
	if !ok {
		return 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.skipped)
}

// corruptReport runs after Apply. With --skip-corrupt it lists every skipped file on
// stderr; without it, a corrupt file's error gains what to do about it.
func (r *runner) corruptReport(err error) error {
	s, ok := r.reader.(*skippingReader)
	if !ok {
		if err != nil && corruptFile(err) {
			return fmt.Errorf("%w (replace the file from a copy of the backup, or rerun with --skip-corrupt to go on without it and list every damaged file)", err)
		}
		return err
	}
	s.mu.Lock()
	lines := append([]string(nil), s.skipped...)
	s.mu.Unlock()
	sort.Strings(lines)
	for _, l := range lines {
		fmt.Fprintln(r.e.stderr, l)
	}
	if len(lines) > 0 {
		fmt.Fprintf(r.e.stderr, "the result is incomplete: %s skipped (listed above)\n", corruptFiles(len(lines)))
	}
	return err
}
