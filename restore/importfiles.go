package restore

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"math/rand/v2"
	"os"
	"strings"
	"time"

	"github.com/klauspost/compress/gzip"

	"github.com/ddbtape/ddbtape/replay"
	"github.com/ddbtape/ddbtape/storage"
)

// ErrImportExists means the destination of restore --to-s3 holds a finished restore (its
// manifest) already: choose another prefix, or pass --force to replace it.
var ErrImportExists = errors.New("holds a finished restore already: choose another prefix or pass --force to replace it")

// ErrTooManyFiles means the files would be more than one import reads (MaxImportFiles,
// shared among the partitions): make each file larger.
var ErrTooManyFiles = errors.New("more files than one Import from S3 reads")

// Defaults of ImportFileOptions.
const (
	DefaultImportFileBytes = 256 << 20
	defaultStripes         = 8
	defaultShuffleBytes    = 16 << 20
	// importAbortTimeout bounds the removal of the files of a failed restore.
	importAbortTimeout = time.Minute
)

// ImportFileOptions shape the files of an ImportFiles target.
type ImportFileOptions struct {
	// SpoolDir holds each file while it is written, before it is stored; empty: the
	// system's temporary directory. It needs Stripes times FileBytes compressed.
	SpoolDir string
	// FileBytes bounds a file's uncompressed size (a file closes once it reaches it);
	// zero: DefaultImportFileBytes.
	FileBytes int64
	// Stripes is how many files are filled at once; zero: 8.
	Stripes int
	// ShuffleBytes is the window of items shuffled before they are dealt to the files;
	// zero: 16 MiB. It bounds the target's memory with the files' compressors.
	ShuffleBytes int64
	// Partition is the partition of the restore these files hold: it names them and the
	// manifest, and gets its share of the import's MaxImportFiles.
	Partition replay.Partition
	// Force replaces a finished restore of the same partition at the destination.
	Force bool
	// Source says where the items come from, for the manifest.
	Source ImportSource
	// S3Bucket and S3Prefix are where the destination is in S3, for the import command;
	// empty for a directory (the command then names BUCKET and PREFIX to fill in, once the
	// directory is copied to S3).
	S3Bucket, S3Prefix string
}

// ImportSource is what the files are a restore of.
type ImportSource struct {
	Table      string    `json:"table"`
	At         time.Time `json:"at"`
	SnapshotID string    `json:"snapshot_id"`
}

// ImportFiles is a Target that writes the state at T as the input of AWS's Import from
// S3 (ImportTable): gzipped files of one {"Item":{...}} per line in DynamoDB JSON under
// data/, each at most FileBytes uncompressed, and, once every file is stored, a manifest
// (ImportManifest: items, bytes, each file's SHA-256, the table to create, what Import
// leaves out, the aws CLI command). Items reach a target in key order within each spill
// partition, and Import reads its files in parallel: to keep that from walking a rolling
// hot partition, items are shuffled in windows of ShuffleBytes and dealt round-robin to
// Stripes files at once, so every file holds keys from all over the table and no key
// range. The order is seeded, so the same restore writes the same files.
type ImportFiles struct {
	bucket  storage.Bucket
	opts    ImportFileOptions
	spec    TableCreation
	leftOut []string

	window      []string // items, DynamoDB JSON
	windowBytes int64
	rng         *rand.Rand
	deal        int
	stripes     []*importStripe
	next        int // number of the next file
	maxFiles    int
	stored      []ImportFile
	done        bool
}

// importStripe is one file being filled, in the spool directory.
type importStripe struct {
	f       *os.File
	sum     hash.Hash
	counted *countingWriter
	bw      *bufio.Writer
	gz      *gzip.Writer
	items   int64
	raw     int64
}

var _ Target = (*ImportFiles)(nil)

// CreateImportFiles starts writing import files for the table spec under bucket (the
// destination, data/ and the manifest inside it). A finished restore of the same
// partition there (its manifest) is an error wrapping ErrImportExists unless opts.Force;
// files of the partition left by an interrupted restore are deleted first, so a restore
// tried again (a retried pod of an Indexed Job) starts clean. leftOut is what Import will
// not carry over, for the manifest. It returns how many files it deleted.
func CreateImportFiles(ctx context.Context, bucket storage.Bucket, spec TableCreation, leftOut []string, opts ImportFileOptions) (*ImportFiles, int, error) {
	if opts.FileBytes <= 0 {
		opts.FileBytes = DefaultImportFileBytes
	}
	if opts.Stripes <= 0 {
		opts.Stripes = defaultStripes
	}
	if opts.ShuffleBytes <= 0 {
		opts.ShuffleBytes = defaultShuffleBytes
	}
	t := &ImportFiles{bucket: bucket, opts: opts, spec: spec, leftOut: leftOut,
		rng:      rand.New(rand.NewPCG(uint64(opts.Partition.Index), uint64(opts.Partition.Count))),
		stripes:  make([]*importStripe, opts.Stripes),
		maxFiles: MaxImportFiles / max(opts.Partition.Count, 1)}
	manifest := t.ManifestKey()
	if rc, err := bucket.Open(ctx, manifest); err == nil {
		rc.Close()
		if !opts.Force {
			return nil, 0, fmt.Errorf("%s %w", storage.URL(bucket, ""), ErrImportExists)
		}
		if err := bucket.Delete(ctx, manifest); err != nil {
			return nil, 0, fmt.Errorf("delete %s: %w", storage.URL(bucket, manifest), err)
		}
	} else if !errors.Is(err, storage.ErrNotFound) {
		return nil, 0, fmt.Errorf("read %s: %w", storage.URL(bucket, manifest), err)
	}
	old, err := bucket.List(ctx, t.filePrefix())
	if err != nil {
		return nil, 0, fmt.Errorf("list %s: %w", storage.URL(bucket, t.filePrefix()), err)
	}
	for _, o := range old {
		if err := bucket.Delete(ctx, o.Key); err != nil {
			return nil, 0, fmt.Errorf("delete %s, left by an earlier restore: %w", storage.URL(bucket, o.Key), err)
		}
	}
	return t, len(old), nil
}

// ImportDataPrefix is the key prefix, inside the destination, of every partition's files:
// what an import reads.
const ImportDataPrefix = "data/"

// filePrefix is the key prefix of this partition's files.
func (t *ImportFiles) filePrefix() string {
	if t.opts.Partition.Whole() {
		return ImportDataPrefix + "part-"
	}
	return fmt.Sprintf("%sp%dof%d-", ImportDataPrefix, t.opts.Partition.Index, t.opts.Partition.Count)
}

// ManifestKey is the key of this partition's manifest inside the destination:
// manifest.json, or manifest-pIofN.json for partition I/N.
func (t *ImportFiles) ManifestKey() string {
	if t.opts.Partition.Whole() {
		return "manifest.json"
	}
	return fmt.Sprintf("manifest-p%dof%d.json", t.opts.Partition.Index, t.opts.Partition.Count)
}

// Put adds one item.
func (t *ImportFiles) Put(ctx context.Context, _, item string, _ Action) error {
	t.window = append(t.window, item)
	t.windowBytes += int64(len(item))
	if t.windowBytes >= t.opts.ShuffleBytes {
		return t.flushWindow(ctx)
	}
	return nil
}

// Delete fails: the files start empty, so a restore never deletes from them.
func (t *ImportFiles) Delete(_ context.Context, key string) error {
	return fmt.Errorf("delete %s from import files: they hold nothing to delete", key)
}

// flushWindow shuffles the window and deals it to the stripes, storing each file that
// is full.
func (t *ImportFiles) flushWindow(ctx context.Context) error {
	t.rng.Shuffle(len(t.window), func(i, j int) { t.window[i], t.window[j] = t.window[j], t.window[i] })
	for i, item := range t.window {
		t.window[i] = ""
		n := t.deal
		t.deal = (t.deal + 1) % len(t.stripes)
		if err := t.write(ctx, n, item); err != nil {
			return err
		}
	}
	t.window, t.windowBytes = t.window[:0], 0
	return nil
}

func (t *ImportFiles) write(ctx context.Context, n int, item string) error {
	s := t.stripes[n]
	if s == nil {
		var err error
		if s, err = newImportStripe(t.opts.SpoolDir); err != nil {
			return err
		}
		t.stripes[n] = s
	}
	for _, part := range [...]string{`{"Item":`, item, "}\n"} {
		if _, err := io.WriteString(s.gz, part); err != nil {
			return fmt.Errorf("write %s: %w", s.f.Name(), err)
		}
	}
	s.items++
	s.raw += int64(len(item)) + 10
	if s.raw >= t.opts.FileBytes {
		t.stripes[n] = nil
		return t.store(ctx, s)
	}
	return nil
}

func newImportStripe(dir string) (*importStripe, error) {
	f, err := os.CreateTemp(dir, "ddbtape-import-*.json.gz")
	if err != nil {
		return nil, fmt.Errorf("create spool file: %w", err)
	}
	_ = os.Remove(f.Name()) // unlinked: nothing is left behind after a crash
	s := &importStripe{f: f, sum: sha256.New()}
	s.counted = &countingWriter{w: io.MultiWriter(f, s.sum)}
	s.bw = bufio.NewWriterSize(s.counted, 256<<10)
	if s.gz, err = gzip.NewWriterLevel(s.bw, gzip.BestSpeed); err != nil {
		f.Close()
		return nil, err
	}
	return s, nil
}

// store finishes a file and stores it under the next name.
func (t *ImportFiles) store(ctx context.Context, s *importStripe) error {
	defer s.f.Close()
	if t.next >= t.maxFiles {
		return fmt.Errorf("the restore needs %w (%d for this partition) of at most %d MiB: pass a larger --file-size", ErrTooManyFiles, t.maxFiles, t.opts.FileBytes>>20)
	}
	if err := s.gz.Close(); err != nil {
		return fmt.Errorf("write %s: %w", s.f.Name(), err)
	}
	if err := s.bw.Flush(); err != nil {
		return fmt.Errorf("write %s: %w", s.f.Name(), err)
	}
	if _, err := s.f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("rewind %s: %w", s.f.Name(), err)
	}
	file := ImportFile{Key: fmt.Sprintf("%s%05d.json.gz", t.filePrefix(), t.next), Items: s.items, Bytes: s.counted.n,
		UncompressedBytes: s.raw, SHA256: hex.EncodeToString(s.sum.Sum(nil))}
	t.next++
	if err := t.bucket.Create(ctx, file.Key, storage.Sealed(s.f, file.SHA256)); err != nil {
		return fmt.Errorf("store %s: %w", storage.URL(t.bucket, file.Key), err)
	}
	t.stored = append(t.stored, file)
	return nil
}

// Commit stores the files still open, then the manifest.
func (t *ImportFiles) Commit(ctx context.Context) error {
	if t.done {
		return errors.New("import files already committed or aborted")
	}
	if err := t.flushWindow(ctx); err != nil {
		return err
	}
	for i, s := range t.stripes {
		if s == nil {
			continue
		}
		t.stripes[i] = nil
		if err := t.store(ctx, s); err != nil {
			return err
		}
	}
	data, err := t.Manifest().Encode()
	if err != nil {
		return err
	}
	sum := sha256.Sum256(data)
	if err := t.bucket.Create(ctx, t.ManifestKey(), storage.Sealed(strings.NewReader(string(data)), hex.EncodeToString(sum[:]))); err != nil {
		return fmt.Errorf("store %s: %w", storage.URL(t.bucket, t.ManifestKey()), err)
	}
	t.done = true
	return nil
}

// Abort deletes what the restore stored, so no partial set of files is left to import,
// and returns err.
func (t *ImportFiles) Abort(err error) error {
	if t.done {
		return err
	}
	t.done = true
	for _, s := range t.stripes {
		if s != nil {
			s.f.Close()
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), importAbortTimeout)
	defer cancel()
	for _, f := range t.stored {
		_ = t.bucket.Delete(ctx, f.Key)
	}
	return err
}

// Files is what was stored, in order.
func (t *ImportFiles) Files() []ImportFile { return t.stored }

// String says what the restore does, for progress: "write import files to URL".
func (t *ImportFiles) String() string { return "write import files to " + t.URL("") }

// URL is where key of the destination is, for messages: URL("") is the destination.
func (t *ImportFiles) URL(key string) string { return storage.URL(t.bucket, key) }

// countingWriter counts the bytes written through it.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
