package config

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/ddbtape/ddbtape/storage"
)

// resolve applies defaults and per-table overrides to raw and validates the result. The
// first mistake found is returned, named by its field.
func resolve(raw *rawConfig) (*Config, error) {
	c := &Config{
		AppName:          or(raw.AppName, DefaultAppName),
		WorkerID:         raw.WorkerID,
		Region:           raw.Region,
		EndpointURL:      raw.EndpointURL,
		Destination:      raw.Destination,
		Checkpoint:       raw.Checkpoint,
		SpoolDir:         raw.SpoolDir,
		PollInterval:     durOr(raw.PollInterval, DefaultPollInterval),
		IdlePollInterval: durOr(raw.IdlePoll, 0),
		RetryBound:       durOr(raw.RetryBound, DefaultRetryBound),
		ShutdownGrace:    durOr(raw.ShutdownGrace, DefaultShutdownGrace),
		HTTP: HTTP{
			Address:            or(raw.HTTP.Address, DefaultHTTPAddress),
			ReadyCheckpointAge: durOr(raw.HTTP.ReadyCheckpointAge, DefaultReadyCheckpointAge),
		},
		Log: Log{Level: or(raw.Log.Level, DefaultLogLevel), Format: or(raw.Log.Format, DefaultLogFormat)},
		S3: S3{SSE: raw.S3.SSE, KMSKeyID: raw.S3.KMSKeyID, PathStyle: raw.S3.PathStyle != nil && *raw.S3.PathStyle,
			Profile: raw.S3.Profile, RoleARN: raw.S3.RoleARN},
		Maintenance: raw.Maintenance == nil || *raw.Maintenance,
	}
	checks := []func() error{
		func() error { return checkName("app-name", c.AppName) },
		func() error { return checkEndpoint("endpoint-url", c.EndpointURL) },
		func() error { return checkDestination(c.Destination) },
		func() error { return checkCheckpoint(c.Checkpoint) },
		func() error { return positive("poll-interval", c.PollInterval) },
		func() error { return nonNegative("idle-poll-interval", c.IdlePollInterval) },
		func() error { return positive("retry-bound", c.RetryBound) },
		func() error { return positive("shutdown-grace", c.ShutdownGrace) },
		func() error { return checkAddress("http.address", c.HTTP.Address) },
		func() error { return positive("http.ready-checkpoint-age", c.HTTP.ReadyCheckpointAge) },
		func() error { return oneOf("log.level", c.Log.Level, "debug", "info", "warn", "error") },
		func() error { return oneOf("log.format", c.Log.Format, "text", "json") },
		func() error { return checkS3(c.S3) },
	}
	for _, f := range checks {
		if err := f(); err != nil {
			return nil, err
		}
	}

	// The global roll, snapshot, compaction and retention settings are checked under
	// their own names, so a mistake there is not reported against tables[0].
	global := rawTable{Start: raw.Start, Roll: raw.Roll, Snapshot: raw.Snapshot, Compaction: raw.Compaction, Retention: raw.Retention, Verify: raw.Verify}
	defaults, err := resolveTable(Table{
		Start: DefaultStart,
		Roll:  Roll{Records: DefaultRollRecords, Bytes: DefaultRollBytes, Age: DefaultRollAge},
		// A table without a base snapshot cannot be restored, so one is taken at start
		// unless the file says otherwise.
		Snapshot: Snapshot{AtStartIfMissing: true},
		Verify:   Verify{Sample: 1, RecheckWithin: DefaultVerifyRecheck},
	}, global, "")
	if err != nil {
		return nil, err
	}
	if len(raw.Tables) == 0 {
		return nil, fieldErr("tables", "required: list at least one table (- name: orders)")
	}
	first := map[string]int{}
	for i, rt := range raw.Tables {
		path := "tables[" + strconv.Itoa(i) + "]"
		if rt.Name == "" {
			return nil, fieldErr(path+".name", "required")
		}
		if err := checkTableName(path+".name", rt.Name); err != nil {
			return nil, err
		}
		if j, ok := first[rt.Name]; ok {
			return nil, fieldErr(path+".name", "%q is listed twice (also tables[%d]); list each table once", rt.Name, j)
		}
		first[rt.Name] = i
		t, err := resolveTable(defaults, rt, path+".")
		if err != nil {
			return nil, err
		}
		t.Name = rt.Name
		if t.Roll.Age > c.HTTP.ReadyCheckpointAge {
			return nil, fieldErr("http.ready-checkpoint-age", "%s is shorter than %sroll.age %s: a busy shard checkpoints once per roll, so /readyz would fail between rolls",
				c.HTTP.ReadyCheckpointAge, path+".", t.Roll.Age)
		}
		c.Tables = append(c.Tables, t)
	}
	if err := resolveObjectLock(c, raw.ObjectLock); err != nil {
		return nil, err
	}
	return c, nil
}

// resolveObjectLock checks object-lock and fills in its period: by default the longest
// retention of any table plus DefaultLockMargin.
func resolveObjectLock(c *Config, r rawObjectLock) error {
	switch strings.ToLower(r.Mode) {
	case "":
		if r.For != nil {
			return fieldErr("object-lock.for", "needs object-lock.mode: governance or compliance")
		}
		return nil
	case "governance":
		c.ObjectLock.Mode = storage.LockGovernance
	case "compliance":
		c.ObjectLock.Mode = storage.LockCompliance
	default:
		return fieldErr("object-lock.mode", "%q is not governance or compliance", r.Mode)
	}
	if loc, err := storage.ParseURL(c.Destination); err == nil && loc.Scheme != "s3" {
		return fieldErr("object-lock.mode", "needs an s3:// destination whose bucket has Object Lock: a directory cannot lock its files")
	}
	if r.For != nil {
		if err := positive("object-lock.for", time.Duration(*r.For)); err != nil {
			return err
		}
		c.ObjectLock.For = time.Duration(*r.For)
		return nil
	}
	var longest time.Duration
	for _, t := range c.Tables {
		if t.Retention == 0 {
			return fieldErr("object-lock.for", "required when a table's retention is 0 (kept forever): say how long each object stays locked, e.g. 400d")
		}
		longest = max(longest, t.Retention)
	}
	c.ObjectLock.For = longest + DefaultLockMargin
	return nil
}

// resolveTable lays the settings of r over base and checks them; prefix is "" for the
// global settings and "tables[i]." for a table.
func resolveTable(base Table, r rawTable, prefix string) (Table, error) {
	t := base
	if r.Start != "" {
		t.Start = r.Start
	}
	if err := oneOf(prefix+"start", t.Start, "trim-horizon", "latest"); err != nil {
		return Table{}, err
	}
	if r.Roll.Records != nil {
		if *r.Roll.Records <= 0 {
			return Table{}, fieldErr(prefix+"roll.records", "must be positive, got %d", *r.Roll.Records)
		}
		t.Roll.Records = *r.Roll.Records
	}
	if r.Roll.Bytes != nil {
		if *r.Roll.Bytes <= 0 {
			return Table{}, fieldErr(prefix+"roll.bytes", "must be positive, got %d", *r.Roll.Bytes)
		}
		t.Roll.Bytes = int64(*r.Roll.Bytes)
	}
	if r.Roll.Age != nil {
		if err := positive(prefix+"roll.age", time.Duration(*r.Roll.Age)); err != nil {
			return Table{}, err
		}
		t.Roll.Age = time.Duration(*r.Roll.Age)
	}
	if r.Snapshot.Every != nil {
		if err := nonNegative(prefix+"snapshot.every", time.Duration(*r.Snapshot.Every)); err != nil {
			return Table{}, err
		}
		t.Snapshot.Every = time.Duration(*r.Snapshot.Every)
	}
	if r.Snapshot.AtStartIfMissing != nil {
		t.Snapshot.AtStartIfMissing = *r.Snapshot.AtStartIfMissing
	}
	if r.Snapshot.Segments != nil {
		if *r.Snapshot.Segments < 0 || *r.Snapshot.Segments > 1_000_000 {
			return Table{}, fieldErr(prefix+"snapshot.segments", "must be between 0 (automatic) and 1000000, got %d", *r.Snapshot.Segments)
		}
		t.Snapshot.Segments = *r.Snapshot.Segments
	}
	if r.Compaction.Every != nil {
		if err := nonNegative(prefix+"compaction.every", time.Duration(*r.Compaction.Every)); err != nil {
			return Table{}, err
		}
		t.Compaction.Every = time.Duration(*r.Compaction.Every)
	}
	if r.Retention != nil {
		if err := nonNegative(prefix+"retention", time.Duration(*r.Retention)); err != nil {
			return Table{}, err
		}
		t.Retention = time.Duration(*r.Retention)
	}
	if err := resolveVerify(&t.Verify, r.Verify, prefix); err != nil {
		return Table{}, err
	}
	// Retention deletes old snapshots and segments; with fewer days kept than between
	// snapshots, some moments in between would have no base left to restore from.
	if t.Retention > 0 && t.Snapshot.Every > 0 && t.Retention < t.Snapshot.Every {
		return Table{}, fieldErr(prefix+"retention", "%s is shorter than %ssnapshot.every %s: keep at least one snapshot interval",
			fmtDuration(t.Retention), prefix, fmtDuration(t.Snapshot.Every))
	}
	return t, nil
}

func resolveVerify(v *Verify, r rawVerify, prefix string) error {
	if r.Every != nil {
		if err := nonNegative(prefix+"verify.every", time.Duration(*r.Every)); err != nil {
			return err
		}
		v.Every = time.Duration(*r.Every)
	}
	if r.Sample != nil {
		if f := float64(*r.Sample); f <= 0 || f > 1 {
			return fieldErr(prefix+"verify.sample", "must be more than 0 and at most 1 (the whole table), got %g", f)
		}
		v.Sample = float64(*r.Sample)
	}
	if r.MaxRCU != nil {
		if *r.MaxRCU < 0 {
			return fieldErr(prefix+"verify.max-rcu", "must not be negative, got %g (0 is no cap)", *r.MaxRCU)
		}
		v.MaxRCU = *r.MaxRCU
	}
	if r.RecheckWithin != nil {
		if err := positive(prefix+"verify.recheck-within", time.Duration(*r.RecheckWithin)); err != nil {
			return err
		}
		v.RecheckWithin = time.Duration(*r.RecheckWithin)
	}
	return nil
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func durOr(d *Duration, def time.Duration) time.Duration {
	if d == nil {
		return def
	}
	return time.Duration(*d)
}

func positive(field string, d time.Duration) error {
	if d <= 0 {
		return fieldErr(field, "must be positive, got %s", fmtDuration(d))
	}
	return nil
}

func nonNegative(field string, d time.Duration) error {
	if d < 0 {
		return fieldErr(field, "must not be negative, got %s (0 turns it off)", fmtDuration(d))
	}
	return nil
}

// fmtDuration writes whole days as days, the way the file says them.
func fmtDuration(d time.Duration) string {
	if d != 0 && d%(24*time.Hour) == 0 {
		return strconv.FormatInt(int64(d/(24*time.Hour)), 10) + "d"
	}
	return d.String()
}

func oneOf(field, v string, allowed ...string) error {
	for _, a := range allowed {
		if v == a {
			return nil
		}
	}
	return fieldErr(field, "%q is not one of %s", v, strings.Join(allowed, ", "))
}

func checkName(field, v string) error {
	for _, r := range v {
		if r < 0x20 || r == 0x7f {
			return fieldErr(field, "%q contains a control character", v)
		}
	}
	return nil
}

// checkTableName applies DynamoDB's rule: 3-255 characters of [a-zA-Z0-9_.-].
func checkTableName(field, name string) error {
	if len(name) < 3 || len(name) > 255 || strings.Trim(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") != "" {
		return fieldErr(field, "%q is not a valid DynamoDB table name (3-255 characters of letters, digits, '_', '-', '.')", name)
	}
	return nil
}

func checkDestination(v string) error {
	if v == "" {
		return fieldErr("destination", "required (a directory, file:///path or s3://bucket/prefix)")
	}
	if _, err := storage.ParseURL(v); err != nil {
		return fieldErr("destination", "%v", err)
	}
	return nil
}

func checkCheckpoint(v string) error {
	if v == "" {
		return nil
	}
	if name, ok := strings.CutPrefix(v, "dynamodb://"); ok {
		if err := checkTableName("checkpoint", name); err != nil {
			return err
		}
		return nil
	}
	if _, err := storage.ParseURL(v); err != nil {
		return fieldErr("checkpoint", "%v (or dynamodb://TABLE)", err)
	}
	return nil
}

func checkEndpoint(field, v string) error {
	if v == "" {
		return nil
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fieldErr(field, "%q is not an http:// or https:// URL (e.g. http://localhost:8000)", v)
	}
	return nil
}

// checkAddress accepts what net.Listen("tcp", ...) takes: host:port, :port, with a
// numeric port.
func checkAddress(field, v string) error {
	host, port, err := net.SplitHostPort(v)
	if err != nil {
		return fieldErr(field, "%q is not host:port (use e.g. :9090 or 127.0.0.1:9090)", v)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 0 || n > 65535 {
		return fieldErr(field, "%q: port %q is not a number from 0 to 65535", v, port)
	}
	if strings.ContainsAny(host, " /") {
		return fieldErr(field, "%q: %q is not a host name or IP address", v, host)
	}
	return nil
}

func checkS3(s S3) error {
	if err := oneOf("s3.sse", s.SSE, "", "AES256", "aws:kms"); err != nil {
		return fieldErr("s3.sse", "%q is not AES256 or aws:kms (or leave it out)", s.SSE)
	}
	if s.KMSKeyID != "" && s.SSE != "aws:kms" {
		return fieldErr("s3.kms-key-id", "needs s3.sse: aws:kms")
	}
	return nil
}

// String gives a one-line summary for logs.
func (c *Config) String() string {
	names := make([]string, len(c.Tables))
	for i, t := range c.Tables {
		names[i] = t.Name
	}
	tables := "tables"
	if len(c.Tables) == 1 {
		tables = "table"
	}
	return fmt.Sprintf("%d %s (%s) to %s", len(c.Tables), tables, strings.Join(names, ", "), c.Destination)
}
