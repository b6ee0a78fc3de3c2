// Package snapshot takes a base snapshot of a DynamoDB table: a parallel Scan whose
// segments each write Parquet parts under <dest>/<table>/snapshots/<id>/, then a manifest
// (writer.Manifest) written last: a snapshot without a manifest is incomplete and no
// restore uses it. A manifest write that reports failure is read back, since on S3 it can
// have been stored all the same (a 412 after a lost response, a 500 after the commit):
// the manifest of this run found there is success (writer.CreateManifest). A failed run
// deletes no part: it can be resumed.
//
// A snapshot is resumable. Each segment checkpoints its LastEvaluatedKey beside the parts
// (see state.go), only after the parts holding the pages before it are stored, so a
// resumed run (Config.SnapshotID) rescans nothing that was stored and stores nothing
// twice. Throttling and transient failures are retried page by page with capped, jittered
// backoff; when a page cannot be read within the retry bound the snapshot stops without a
// manifest, and can be resumed later. No item is ever skipped.
//
// The scan is fuzzy (it runs for minutes while the table changes), so the manifest records
// the table's stream and when the scan started and finished: a restore replays the changes
// captured from before the start to combine the two (DESIGN.md, "Snapshot handover").
//
// Use: Prepare (describes the table, starts or reopens the snapshot; fails early on an
// unknown table, an unwritable destination or a bad --resume id), then Run.
package snapshot

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/ddbtape/ddbtape/globaltable"
	"github.com/ddbtape/ddbtape/ledger"
	"github.com/ddbtape/ddbtape/retry"
	"github.com/ddbtape/ddbtape/storage"
	"github.com/ddbtape/ddbtape/writer"
)

// Named failures; each message tells the operator what to do.
var (
	ErrTableNotFound    = errors.New("table not found: check the table name, --region and --endpoint-url")
	ErrSnapshotNotFound = errors.New("no such snapshot to resume: check the id (the directory names under <dest>/<table>/snapshots/)")
	ErrSnapshotComplete = errors.New("already complete (it has a manifest), nothing to resume: start a new snapshot without --resume")
	ErrSegmentsChanged  = errors.New("a resumed snapshot keeps the segment count it started with: omit --segments")
	ErrTableChanged     = errors.New("the table was deleted and recreated since this snapshot started: start a new snapshot")
	ErrStateCorrupt     = errors.New("snapshot state is unreadable: start a new snapshot (and delete this one's directory)")
)

// DefaultWorkers is how many segments are scanned at once.
const DefaultWorkers = 4

// API is the part of the DynamoDB client a snapshot uses.
type API interface {
	DescribeTable(ctx context.Context, in *dynamodb.DescribeTableInput, optFns ...func(*dynamodb.Options)) (*dynamodb.DescribeTableOutput, error)
	Scan(ctx context.Context, in *dynamodb.ScanInput, optFns ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error)
}

// Progress receives counts as pages are read; *progress.Meter is one.
type Progress interface {
	Add(items, bytes int64)
}

// Config says what to snapshot and how.
type Config struct {
	Table string
	// SnapshotID resumes that snapshot; empty starts a new one.
	SnapshotID string
	// Segments is the scan's TotalSegments; 0 picks one per GiB of the table's size, at
	// least Workers. A resumed snapshot keeps its own.
	Segments int
	// Workers is how many segments are scanned at once; 0 means DefaultWorkers.
	Workers int
	// MaxRCU caps the read capacity units consumed per second by all workers; 0: no cap.
	MaxRCU float64
	// Consistent asks for strongly consistent reads (twice the read capacity).
	Consistent bool
	// PageSize is the Scan Limit (items per page); 0 lets DynamoDB fill 1 MB pages.
	PageSize int32
	// Part says when a part is cut (always at a page boundary); zero: writer.DefaultPartPolicy.
	Part writer.PartPolicy
	// SpoolDir holds parts being written; empty: the system temporary directory.
	SpoolDir string
	// RetryBound is how long one page is retried; 0 means DefaultRetryBound.
	RetryBound time.Duration
	// Logger receives warnings and progress events; nil discards them.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

func (c Config) withDefaults() Config {
	if c.Workers <= 0 {
		c.Workers = DefaultWorkers
	}
	if c.Part == (writer.PartPolicy{}) {
		c.Part = writer.DefaultPartPolicy()
	}
	if c.RetryBound <= 0 {
		c.RetryBound = DefaultRetryBound
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

func (c Config) validate() error {
	switch {
	case c.Table == "":
		return errors.New("snapshot: no table given")
	case c.Segments < 0 || c.Segments > maxSegments:
		return fmt.Errorf("snapshot: segments must be between 1 and %d, got %d", maxSegments, c.Segments)
	case c.MaxRCU < 0:
		return fmt.Errorf("snapshot: max RCU must not be negative, got %g", c.MaxRCU)
	case c.PageSize < 0:
		return fmt.Errorf("snapshot: page size must not be negative, got %d", c.PageSize)
	case c.SnapshotID != "" && !ValidID(c.SnapshotID):
		return fmt.Errorf("snapshot %q: %w", c.SnapshotID, ErrSnapshotNotFound)
	}
	return c.Part.Validate()
}

// Job is one snapshot, started or reopened by Prepare.
type Job struct {
	cfg      Config
	db       API
	bucket   storage.Bucket // the destination root
	state    storage.Bucket // the snapshot's directory
	job      jobState
	table    writer.Manifest // the table's description, without times and parts
	keyNames []string
	estimate int64
	segments map[int]*segmentState
	resumed  bool
	limit    *retry.Limiter
	// retries is how a page is retried (see retryPolicy); tests shorten it.
	retries retry.Policy
	stats   stats
}

// Prepare describes the table and starts a new snapshot (recording it in the destination,
// which proves the destination writable) or reopens the one cfg.SnapshotID names.
func Prepare(ctx context.Context, db API, bucket storage.Bucket, cfg Config) (*Job, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	out, err := db.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(cfg.Table)})
	if err != nil {
		var nf *types.ResourceNotFoundException
		if errors.As(err, &nf) {
			return nil, fmt.Errorf("table %s: %w", cfg.Table, ErrTableNotFound)
		}
		return nil, fmt.Errorf("describe table %s: %w", cfg.Table, err)
	}
	d := out.Table
	j := &Job{
		cfg:      cfg,
		db:       db,
		bucket:   bucket,
		table:    describeManifest(d),
		estimate: aws.ToInt64(d.ItemCount),
		limit:    retry.NewLimiter(cfg.MaxRCU, cfg.MaxRCU),
		retries:  retryPolicy(cfg.RetryBound),
	}
	for _, k := range j.table.KeySchema {
		j.keyNames = append(j.keyNames, k.AttributeName)
	}
	// One backup holds one region's stream: a scan of another region's replica does not
	// line up with it (replication lag), so it is refused before anything is written.
	known, err := ledger.Read(ctx, bucket, cfg.Table)
	if err != nil {
		return nil, err
	}
	if err := globaltable.CheckRegion(cfg.Table, "snapshot", j.table.Region, known.Regions()); err != nil {
		return nil, err
	}
	if g := globaltable.Describe(d); g.Global() {
		cfg.Logger.Info("the table is a "+g.String()+": the snapshot scans the replica of this region; a restore creates a single-region table",
			"table", cfg.Table, "region", g.Region)
	}
	created := aws.ToTime(d.CreationDateTime).UTC()
	if cfg.SnapshotID == "" {
		now := cfg.Now().UTC()
		segs := cfg.Segments
		if segs == 0 {
			segs = defaultSegments(aws.ToInt64(d.TableSizeBytes), cfg.Workers)
		}
		j.job = jobState{
			SnapshotID: NewID(now), TableName: cfg.Table, TableARN: j.table.TableARN, TableCreated: created,
			StartedAt: now, TotalSegments: segs, Consistent: cfg.Consistent,
		}
		j.state = storage.Sub(bucket, writer.SnapshotDir(cfg.Table, j.job.SnapshotID))
		if err := putJSON(ctx, j.state, jobStateName, j.job); err != nil {
			return nil, fmt.Errorf("start snapshot in the destination: %w", err)
		}
		j.segments = map[int]*segmentState{}
	} else if err := j.reopen(ctx, created); err != nil {
		return nil, err
	}
	j.table.SnapshotID = j.job.SnapshotID
	if w := streamWarning(j.table); w != "" {
		cfg.Logger.Warn(w, "table", cfg.Table)
	}
	return j, nil
}

// reopen loads the state of the snapshot cfg.SnapshotID and checks it can be continued.
func (j *Job) reopen(ctx context.Context, created time.Time) error {
	id := j.cfg.SnapshotID
	j.resumed = true
	j.state = storage.Sub(j.bucket, writer.SnapshotDir(j.cfg.Table, id))
	rc, err := j.state.Open(ctx, writer.ManifestName)
	switch {
	case err == nil:
		rc.Close()
		return fmt.Errorf("snapshot %s: %w", id, ErrSnapshotComplete)
	case !errors.Is(err, storage.ErrNotFound):
		return fmt.Errorf("snapshot %s: check for a manifest: %w", id, err)
	}
	if err := getJSON(ctx, j.state, jobStateName, &j.job); err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			return fmt.Errorf("snapshot %s of table %s: %w", id, j.cfg.Table, ErrSnapshotNotFound)
		}
		return fmt.Errorf("snapshot %s: %w", id, err)
	}
	switch {
	case j.job.SnapshotID != id || j.job.TableName != j.cfg.Table || j.job.TotalSegments < 1:
		return fmt.Errorf("snapshot %s: %w: %s describes snapshot %q of table %q with %d segments",
			id, ErrStateCorrupt, jobStateName, j.job.SnapshotID, j.job.TableName, j.job.TotalSegments)
	case !j.job.TableCreated.Equal(created):
		return fmt.Errorf("snapshot %s: %w (table created %s, snapshot began on one created %s)",
			id, ErrTableChanged, created.Format(time.RFC3339), j.job.TableCreated.Format(time.RFC3339))
	case j.cfg.Segments != 0 && j.cfg.Segments != j.job.TotalSegments:
		return fmt.Errorf("snapshot %s has %d segments, --segments says %d: %w", id, j.job.TotalSegments, j.cfg.Segments, ErrSegmentsChanged)
	}
	// A resumed run reads the way the snapshot started, so its parts are all alike.
	j.cfg.Consistent = j.job.Consistent
	segs, err := loadSegments(ctx, j.state, j.job.TotalSegments)
	if err != nil {
		return fmt.Errorf("snapshot %s: %w", id, err)
	}
	j.segments = segs
	return nil
}

// ID is the snapshot's id.
func (j *Job) ID() string { return j.job.SnapshotID }

// Table is the table's name.
func (j *Job) Table() string { return j.job.TableName }

// Segments is the scan's segment count.
func (j *Job) Segments() int { return j.job.TotalSegments }

// Workers is how many segments are scanned at once.
func (j *Job) Workers() int { return j.cfg.Workers }

// StartedAt is when the snapshot first started (a resumed one keeps its original start).
func (j *Job) StartedAt() time.Time { return j.job.StartedAt }

// Resumed tells whether Prepare reopened an existing snapshot.
func (j *Job) Resumed() bool { return j.resumed }

// EstimatedItems is DynamoDB's item count for the table, refreshed about every six hours.
func (j *Job) EstimatedItems() int64 { return j.estimate }

// Stored is what earlier runs of a resumed snapshot already stored: items and their bytes
// of DynamoDB JSON.
func (j *Job) Stored() (items, bytes int64) {
	for _, s := range j.segments {
		items += s.Rows
		bytes += s.ItemBytes
	}
	return items, bytes
}

// StreamWarning says why this snapshot cannot be combined with change segments (the table
// has no stream, or one without new images), or "" when it can. Prepare also logs it.
func (j *Job) StreamWarning() string { return streamWarning(j.table) }
