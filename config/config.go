// Package config reads the YAML file that `ddbtape run` takes: which tables to back up,
// where to, and how the long-running process behaves (HTTP address, shutdown grace,
// logs, S3 options, and the snapshot, compaction and retention schedules).
//
// Keys are kebab-case. Before parsing, ${VAR} and ${VAR:-default} are replaced by the
// environment (see Expand). Unknown keys, values of the wrong type and invalid settings
// are refused on load with one line that names the field, e.g.
//
//	tables[1].name: required
//	retention: "9x" is not a duration (use e.g. 90d, 36h)
//
// Load returns a Config with every default filled in and every per-table override
// resolved, so its users never deal with "unset".
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"gopkg.in/yaml.v3"
)

// Defaults of settings the file may leave out. The roll, poll and retry defaults are the
// capture command's (writer.DefaultRollPolicy, shards.DefaultPollInterval and
// shards.DefaultRetryBound; a test keeps them equal).
const (
	DefaultAppName            = "ddbtape"
	DefaultStart              = "trim-horizon"
	DefaultHTTPAddress        = ":9090"
	DefaultShutdownGrace      = 30 * time.Second
	DefaultReadyCheckpointAge = 5 * time.Minute
	DefaultRollRecords        = 10_000
	DefaultRollBytes          = 64 << 20
	DefaultRollAge            = 60 * time.Second
	DefaultPollInterval       = time.Second
	DefaultRetryBound         = 5 * time.Minute
	DefaultLogLevel           = "info"
	DefaultLogFormat          = "text"
	DefaultVerifyRecheck      = 10 * time.Minute
	// DefaultLockMargin is what object-lock.for adds to the longest retention by
	// default: retention deletes a segment or snapshot up to about a snapshot interval
	// after the retention, and whatever is still locked then waits for a later run.
	DefaultLockMargin = 24 * time.Hour
)

// MaxFileSize bounds what Load reads: a config is a few kilobytes.
const MaxFileSize = 1 << 20

// Config is a loaded, validated configuration with defaults applied.
type Config struct {
	// AppName and WorkerID name this process in logs and metrics and, with a
	// dynamodb:// checkpoint store, in the lease table the workers of a fleet share
	// (AppName is the namespace there). WorkerID empty means hostname-pid.
	AppName  string
	WorkerID string
	// Region and EndpointURL reach DynamoDB and DynamoDB Streams; empty means the SDK's
	// configuration chain (AWS_REGION, AWS_ENDPOINT_URL_DYNAMODB, ...).
	Region      string
	EndpointURL string
	// Destination is where backups go: a directory, file:///path or s3://bucket/prefix.
	Destination string
	// Checkpoint is the checkpoint store; empty means beside the data.
	Checkpoint string
	// SpoolDir holds segments being written; empty means the system temp directory.
	SpoolDir     string
	PollInterval time.Duration
	// IdlePollInterval caps the wait between polls of an idle shard (0: a minute, at most
	// roll.age).
	IdlePollInterval time.Duration
	RetryBound       time.Duration
	Tables           []Table
	HTTP             HTTP
	// ShutdownGrace is how long a stop (SIGTERM) may take to flush and checkpoint.
	ShutdownGrace time.Duration
	Log           Log
	S3            S3
	// ObjectLock is the S3 Object Lock retention of the backup objects written (segments,
	// snapshot parts and manifests, ledger objects); zero: none.
	ObjectLock ObjectLock
	// Maintenance runs the jobs that delete (retention, with the ledger's consolidation)
	// and compaction in this process; false when it runs with the capture role and a
	// separate job runs them (ddbtape retention, ddbtape compact).
	Maintenance bool
}

// ObjectLock is the retention S3 Object Lock holds each new backup object under.
type ObjectLock struct {
	// Mode is storage.LockGovernance or storage.LockCompliance; empty: no lock.
	Mode string
	// For is how long after its write an object stays locked: by default the longest
	// retention of any table plus DefaultLockMargin.
	For time.Duration
}

// Table is one table to back up, with the global settings and its overrides merged.
type Table struct {
	Name       string
	Start      string // trim-horizon or latest: where a first capture starts
	Roll       Roll
	Snapshot   Snapshot
	Compaction Compaction
	// Retention is how long backups are kept; 0 keeps them forever.
	Retention time.Duration
	Verify    Verify
}

// Roll says when a change segment is closed and stored: whichever limit comes first.
type Roll struct {
	Records int
	Bytes   int64
	Age     time.Duration
}

// Snapshot schedules base snapshots. Every 0 means no scheduled snapshot.
type Snapshot struct {
	Every time.Duration
	// AtStartIfMissing takes a snapshot when the process starts and the table has none.
	AtStartIfMissing bool
	// Segments is the parallel Scan's TotalSegments; 0 lets the snapshot choose.
	Segments int
}

// Compaction schedules new base snapshots built from the newest snapshot and the change
// segments after it, without a Scan. Every 0 means never.
type Compaction struct {
	Every time.Duration
}

// Verify schedules verifications: the backup at the end of its restorable window
// compared with a live Scan of the table (package verify). Every 0 means none.
type Verify struct {
	Every time.Duration
	// Sample is the fraction of the key space each run reads, in (0, 1]; 1 is the whole
	// table. Successive runs read successive parts.
	Sample float64
	// MaxRCU caps the read capacity units per second the Scan consumes; 0 is no cap.
	MaxRCU float64
	// RecheckWithin bounds the wait for capture to cover the Scan's end before differing
	// items are re-checked.
	RecheckWithin time.Duration
}

// HTTP is the metrics and health server.
type HTTP struct {
	Address string
	// ReadyCheckpointAge is how old a shard's checkpoint may be before /readyz fails.
	ReadyCheckpointAge time.Duration
}

// Log chooses the structured log's level (debug, info, warn, error) and format (text, json).
type Log struct {
	Level  string
	Format string
}

// S3 tunes the S3 backend of the destination and checkpoint store.
type S3 struct {
	SSE       string // "", AES256 or aws:kms
	KMSKeyID  string
	PathStyle bool
	// Profile and RoleARN give the destination credentials of its own (another account's):
	// a profile of the shared configuration files, a role to assume, or both.
	Profile string
	RoleARN string
}

// Error is a configuration mistake: Field names the setting (tables[1].name), Msg what
// is wrong with it and, where it helps, what to write instead.
type Error struct {
	Field string
	Msg   string
}

func (e *Error) Error() string {
	if e.Field == "" {
		return e.Msg
	}
	return e.Field + ": " + e.Msg
}

func fieldErr(field, format string, args ...any) error {
	return &Error{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// Load reads, expands, parses and validates the file at path. Errors name the file and
// the field.
func Load(path string, getenv func(string) string) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("read config %s: %w", path, err)
	}
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("config %s: larger than %d bytes; is this the right file?", path, MaxFileSize)
	}
	cfg, err := Parse(data, getenv)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return cfg, nil
}

// Parse expands the environment in data, parses it and validates it. getenv nil means
// os.Getenv.
func Parse(data []byte, getenv func(string) string) (*Config, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	expanded, err := Expand(data, getenv)
	if err != nil {
		return nil, err
	}
	var root yaml.Node
	if err := yaml.Unmarshal(expanded, &root); err != nil {
		return nil, yamlErr(err)
	}
	if root.Kind == 0 || (root.Kind == yaml.DocumentNode && len(root.Content) == 0) {
		return nil, errors.New("config is empty: it needs at least destination and tables")
	}
	// The path-aware check turns unknown keys and wrong types into errors naming the
	// field; the strict decode below then cannot meet them, but stays as the guard.
	if err := check(&root, rawType, ""); err != nil {
		return nil, err
	}
	var raw rawConfig
	dec := yaml.NewDecoder(bytes.NewReader(expanded))
	dec.KnownFields(true)
	if err := dec.Decode(&raw); err != nil {
		return nil, yamlErr(err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, errors.New("config holds more than one YAML document (remove the second '---')")
	}
	return resolve(&raw)
}

// yamlErr drops the "yaml: " prefix so the line reads like the others.
func yamlErr(err error) error {
	msg := err.Error()
	if len(msg) > 6 && msg[:6] == "yaml: " {
		msg = msg[6:]
	}
	return errors.New(msg)
}
