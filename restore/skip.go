package restore

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

// corruptFile reports errors that mean a stored file cannot be used as it is.
func corruptFile(err error) bool {
	return errors.Is(err, writer.ErrCorrupt) || errors.Is(err, writer.ErrUnknownSchema) ||
		errors.Is(err, writer.ErrChecksum) || errors.Is(err, storage.ErrNotFound)
}

// SkipCorrupt returns a reader of the backup r reads that skips the corrupt files
// (damaged, truncated, of an unknown schema, not matching their manifest, or missing)
// instead of failing, and keeps a line on each for the report (Skipped); Run tells them.
func SkipCorrupt(r replay.Reader) *SkippingReader { return &SkippingReader{r: r} }

// SkippingReader is a replay.Reader that skips corrupt files instead of failing. Apply
// reads files in parallel, so it is safe for concurrent use.
type SkippingReader struct {
	r replay.Reader

	mu      sync.Mutex
	skipped []string // one line per skipped file: what was wrong and what is missing
}

// ReadPart reads a part as the wrapped reader does; a corrupt one is noted and skipped,
// its rows read before the damage kept.
func (s *SkippingReader) ReadPart(ctx context.Context, snapshotID string, part writer.ManifestPart, fn func(writer.SnapshotItem) error) error {
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

// ReadSegment reads a segment as the wrapped reader does; a corrupt one is noted and
// skipped, its changes read before the damage kept.
func (s *SkippingReader) ReadSegment(ctx context.Context, seg catalog.Segment, fn func(*writer.Change) error) error {
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

func (s *SkippingReader) skip(err error, rowsRead int64, missing string) {
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

// Skipped returns a line per file skipped so far, sorted: what was wrong and what is
// missing from the result because of it.
func (s *SkippingReader) Skipped() []string {
	s.mu.Lock()
	lines := append([]string(nil), s.skipped...)
	s.mu.Unlock()
	sort.Strings(lines)
	return lines
}
