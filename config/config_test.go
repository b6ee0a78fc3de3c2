package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// env returns a getenv over a fixed map, so tests never depend on the machine's.
func env(kv ...string) func(string) string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }
}

func TestLoad_FullExampleLoadsWithEveryValue(t *testing.T) {
	cfg, err := Load(filepath.Join("..", "deploy", "ddbtape.yaml"), env("DDBTAPE_BUCKET", "acme-backups", "DDBTAPE_WORKER_ID", "w-1"))
	if err != nil {
		t.Fatalf("the documented example does not load: %v", err)
	}
	want := &Config{
		AppName:       "orders-service",
		WorkerID:      "w-1",
		Region:        "eu-west-1",
		Destination:   "s3://acme-backups/ddbtape",
		SpoolDir:      "/var/lib/ddbtape/spool",
		PollInterval:  time.Second,
		RetryBound:    5 * time.Minute,
		HTTP:          HTTP{Address: ":9090", ReadyCheckpointAge: 5 * time.Minute},
		ShutdownGrace: 30 * time.Second,
		Log:           Log{Level: "info", Format: "json"},
		S3:            S3{SSE: "aws:kms", KMSKeyID: "alias/ddbtape"},
		Maintenance:   true,
		Tables: []Table{
			{
				Name: "orders", Start: "trim-horizon",
				Roll:       Roll{Records: 10000, Bytes: 64 << 20, Age: time.Minute},
				Snapshot:   Snapshot{Every: 24 * time.Hour, AtStartIfMissing: true},
				Compaction: Compaction{Every: 6 * time.Hour},
				Retention:  90 * 24 * time.Hour,
				Verify:     Verify{Every: 24 * time.Hour, Sample: 1, MaxRCU: 200, RecheckWithin: 10 * time.Minute},
			},
			{
				Name: "order-events", Start: "latest",
				Roll:       Roll{Records: 50000, Bytes: 64 << 20, Age: 30 * time.Second},
				Snapshot:   Snapshot{Every: 7 * 24 * time.Hour, AtStartIfMissing: true},
				Compaction: Compaction{Every: 6 * time.Hour},
				Retention:  35 * 24 * time.Hour,
				Verify:     Verify{Every: 24 * time.Hour, Sample: 0.1, MaxRCU: 200, RecheckWithin: 10 * time.Minute},
			},
		},
	}
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("loaded\n%+v\nwant\n%+v", cfg, want)
	}
}

func TestParse_MinimalConfigTakesTheDefaults(t *testing.T) {
	cfg, err := Parse([]byte("destination: /backups\ntables:\n  - name: orders\n"), env())
	if err != nil {
		t.Fatal(err)
	}
	want := &Config{
		AppName: DefaultAppName, Destination: "/backups",
		PollInterval: DefaultPollInterval, RetryBound: DefaultRetryBound, ShutdownGrace: DefaultShutdownGrace,
		HTTP:        HTTP{Address: DefaultHTTPAddress, ReadyCheckpointAge: DefaultReadyCheckpointAge},
		Log:         Log{Level: "info", Format: "text"},
		Maintenance: true,
		Tables: []Table{{
			Name: "orders", Start: "trim-horizon",
			Roll:     Roll{Records: DefaultRollRecords, Bytes: DefaultRollBytes, Age: DefaultRollAge},
			Snapshot: Snapshot{AtStartIfMissing: true},
			Verify:   Verify{Sample: 1, RecheckWithin: DefaultVerifyRecheck},
		}},
	}
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("got\n%+v\nwant\n%+v", cfg, want)
	}
}

// The lock's period follows the longest retention plus a day unless given; the
// destination's own credentials and maintenance are read as written.
func TestParse_ObjectLockPeriodFollowsTheLongestRetentionAndCredentialsAreKept(t *testing.T) {
	cfg, err := Parse([]byte(`
destination: s3://backups/ddbtape
retention: 30d
object-lock: {mode: Compliance}
maintenance: false
s3: {profile: backup, role-arn: "arn:aws:iam::222222222222:role/ddbtape-capture"}
tables:
  - name: aaa
  - name: bbb
    retention: 90d
`), env())
	if err != nil {
		t.Fatal(err)
	}
	if want := (ObjectLock{Mode: "COMPLIANCE", For: 91 * 24 * time.Hour}); cfg.ObjectLock != want {
		t.Errorf("object lock %+v, want %+v", cfg.ObjectLock, want)
	}
	if cfg.Maintenance || cfg.S3.Profile != "backup" || cfg.S3.RoleARN != "arn:aws:iam::222222222222:role/ddbtape-capture" {
		t.Errorf("maintenance %v, s3 %+v", cfg.Maintenance, cfg.S3)
	}
	cfg, err = Parse([]byte("destination: s3://bkt/x\ntables:\n  - name: orders\nobject-lock: {mode: governance, for: 400d}\n"), env())
	if err != nil {
		t.Fatal(err)
	}
	if cfg.ObjectLock != (ObjectLock{Mode: "GOVERNANCE", For: 400 * 24 * time.Hour}) {
		t.Errorf("object lock %+v, want GOVERNANCE for 400d", cfg.ObjectLock)
	}
}

func TestParse_TableOverridesOnlyWhatItNames(t *testing.T) {
	cfg, err := Parse([]byte(`
destination: /b
roll: {records: 100, bytes: 1MiB, age: 10s}
retention: 30d
snapshot: {every: 1d, at-start-if-missing: false}
tables:
  - name: aaa
  - name: bbb
    roll: {bytes: 2MB}
    snapshot: {at-start-if-missing: true}
    retention: 0
`), env())
	if err != nil {
		t.Fatal(err)
	}
	a, b := cfg.Tables[0], cfg.Tables[1]
	if a.Roll != (Roll{100, 1 << 20, 10 * time.Second}) || a.Retention != 30*24*time.Hour || a.Snapshot.AtStartIfMissing {
		t.Errorf("table aaa = %+v, want the global settings", a)
	}
	if b.Roll != (Roll{100, 2_000_000, 10 * time.Second}) || b.Retention != 0 || !b.Snapshot.AtStartIfMissing || b.Snapshot.Every != 24*time.Hour {
		t.Errorf("table bbb = %+v, want its overrides over the global settings", b)
	}
}

func TestParse_MistakesAreRefusedNamingTheField(t *testing.T) {
	const base = "destination: /b\ntables:\n  - name: orders\n"
	cases := []struct {
		name string
		yaml string
		want string // the whole error line
	}{
		{"unknown key", base + "retension: 90d\n", "retension: unknown key (line 4); known keys here: "},
		{"unknown nested key", base + "roll:\n  record: 5\n", "roll.record: unknown key (line 5); known keys here: age, bytes, records"},
		{"unknown table key", "destination: /b\ntables:\n  - name: orders\n  - nmae: x\n", "tables[1].nmae: unknown key (line 4); known keys here: compaction, name, retention, roll, snapshot, start, verify"},
		{"wrong type int", base + "roll:\n  records: many\n", `roll.records: "many" is not a whole number`},
		{"wrong type float", base + "roll:\n  records: 1.5\n", `roll.records: "1.5" is not a whole number`},
		{"wrong type bool", base + "snapshot:\n  at-start-if-missing: sometimes\n", `snapshot.at-start-if-missing: "sometimes" is not true or false`},
		{"wrong type list", "destination: /b\ntables: orders\n", `tables: want a list, got "orders"`},
		{"wrong type mapping", base + "http: 9090\n", `http: want a mapping of keys, got "9090"`},
		{"string given a list", base + "region: [a, b]\n", "region: want a single value, got a list"},
		{"bad duration", base + "retention: 9x\n", `retention: "9x" is not a duration (use e.g. 90d, 36h)`},
		{"bare number duration", base + "shutdown-grace: 30\n", `shutdown-grace: "30" is not a duration (use e.g. 90d, 36h)`},
		{"bad table duration", "destination: /b\ntables:\n  - name: orders\n    snapshot: {every: soon}\n", `tables[0].snapshot.every: "soon" is not a duration (use e.g. 90d, 36h)`},
		{"bad size", base + "roll:\n  bytes: 64XB\n", `roll.bytes: "64XB" is not a size (use e.g. 67108864, 64MiB)`},
		{"missing table name", "destination: /b\ntables:\n  - name: orders\n  - start: latest\n", "tables[1].name: required"},
		{"no tables", "destination: /b\n", "tables: required: list at least one table (- name: orders)"},
		{"bad table name", "destination: /b\ntables:\n  - name: x\n", `tables[0].name: "x" is not a valid DynamoDB table name (3-255 characters of letters, digits, '_', '-', '.')`},
		{"duplicate table", "destination: /b\ntables:\n  - name: orders\n  - name: users\n  - name: orders\n", `tables[2].name: "orders" is listed twice (also tables[0]); list each table once`},
		{"repeated key", base + "region: a\nregion: b\n", "region: repeated (first at line 4)"},
		{"missing destination", "tables:\n  - name: orders\n", "destination: required (a directory, file:///path or s3://bucket/prefix)"},
		{"bad destination URL", "destination: gs://bucket/x\ntables:\n  - name: orders\n", `destination: unsupported destination "gs://bucket/x": use a directory path, file:///path or s3://bucket/prefix`},
		{"bad bucket", "destination: s3://Backups/x\ntables:\n  - name: orders\n", `destination: destination "s3://Backups/x": invalid S3 bucket name "Backups": may contain only lowercase letters, digits, '.' and '-'`},
		{"bad checkpoint URL", base + "checkpoint: ftp://host/x\n", `checkpoint: unsupported destination "ftp://host/x": use a directory path, file:///path or s3://bucket/prefix (or dynamodb://TABLE)`},
		{"bad endpoint", base + "endpoint-url: localhost:8000\n", `endpoint-url: "localhost:8000" is not an http:// or https:// URL (e.g. http://localhost:8000)`},
		{"negative roll", base + "roll:\n  records: -5\n", "roll.records: must be positive, got -5"},
		{"zero roll bytes", base + "roll:\n  bytes: 0\n", "roll.bytes: must be positive, got 0"},
		{"negative table roll", "destination: /b\ntables:\n  - name: orders\n    roll: {age: -1s}\n", "tables[0].roll.age: must be positive, got -1s"},
		{"negative retention", base + "retention: -1d\n", "retention: must not be negative, got -1d (0 turns it off)"},
		{"retention below snapshot interval", base + "retention: 12h\nsnapshot: {every: 1d}\n", "retention: 12h0m0s is shorter than snapshot.every 1d: keep at least one snapshot interval"},
		{"bad address", base + "http:\n  address: \"9090\"\n", `http.address: "9090" is not host:port (use e.g. :9090 or 127.0.0.1:9090)`},
		{"bad port", base + "http:\n  address: \":http-alt\"\n", `http.address: ":http-alt": port "http-alt" is not a number from 0 to 65535`},
		{"port out of range", base + "http:\n  address: \":70000\"\n", `http.address: ":70000": port "70000" is not a number from 0 to 65535`},
		{"zero grace", base + "shutdown-grace: 0s\n", "shutdown-grace: must be positive, got 0s"},
		{"ready age below roll age", base + "roll: {age: 10m}\n", "http.ready-checkpoint-age: 5m0s is shorter than tables[0].roll.age 10m0s: a busy shard checkpoints once per roll, so /readyz would fail between rolls"},
		{"bad log level", base + "log: {level: loud}\n", `log.level: "loud" is not one of debug, info, warn, error`},
		{"bad log format", base + "log: {format: xml}\n", `log.format: "xml" is not one of text, json`},
		{"bad start", base + "start: yesterday\n", `start: "yesterday" is not one of trim-horizon, latest`},
		{"bad sse", base + "s3: {sse: aes}\n", `s3.sse: "aes" is not AES256 or aws:kms (or leave it out)`},
		{"kms key without kms", base + "s3: {kms-key-id: k}\n", "s3.kms-key-id: needs s3.sse: aws:kms"},
		{"top level list", "- a\n- b\n", "(top level): want a mapping of keys, got a list"},
		{"empty", "", "config is empty: it needs at least destination and tables"},
		{"only a comment", "# nothing\n", "config is empty: it needs at least destination and tables"},
		{"two documents", base + "---\nregion: x\n", "config holds more than one YAML document (remove the second '---')"},
		{"syntax error", "destination: [\n", "line 1: did not find expected node content"},
		{"negative verify interval", base + "verify: {every: -1h}\n", "verify.every: must not be negative, got -1h0m0s (0 turns it off)"},
		{"sample above the table", base + "verify: {sample: 1.5}\n", "verify.sample: must be more than 0 and at most 1 (the whole table), got 1.5"},
		{"zero sample", "destination: /b\ntables:\n  - name: orders\n    verify: {sample: 0%}\n", "tables[0].verify.sample: must be more than 0 and at most 1 (the whole table), got 0"},
		{"bad sample", base + "verify: {sample: some}\n", `verify.sample: "some" is not a fraction (use e.g. 0.1 or 10%)`},
		{"bad max rcu", base + "verify: {max-rcu: lots}\n", `verify.max-rcu: "lots" is not a number`},
		{"negative max rcu", base + "verify: {max-rcu: -5}\n", "verify.max-rcu: must not be negative, got -5 (0 is no cap)"},
		{"zero recheck", base + "verify: {recheck-within: 0s}\n", "verify.recheck-within: must be positive, got 0s"},
		{"bad object lock mode", "destination: s3://bkt/x\ntables:\n  - name: orders\nobject-lock: {mode: legal-hold, for: 1d}\n", `object-lock.mode: "legal-hold" is not governance or compliance`},
		{"object lock period without mode", "destination: s3://bkt/x\ntables:\n  - name: orders\nobject-lock: {for: 1d}\n", "object-lock.for: needs object-lock.mode: governance or compliance"},
		{"object lock on a directory", base + "retention: 30d\nobject-lock: {mode: compliance}\n", "object-lock.mode: needs an s3:// destination whose bucket has Object Lock: a directory cannot lock its files"},
		{"object lock kept forever without period", "destination: s3://bkt/x\ntables:\n  - name: orders\nobject-lock: {mode: compliance}\n", "object-lock.for: required when a table's retention is 0 (kept forever): say how long each object stays locked, e.g. 400d"},
		{"zero object lock period", "destination: s3://bkt/x\ntables:\n  - name: orders\nobject-lock: {mode: compliance, for: 0s}\n", "object-lock.for: must be positive, got 0s"},
		{"unset variable", "destination: ${NOPE}\n", "line 1: environment variable NOPE is not set (set it, or write ${NOPE:-default})"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse([]byte(c.yaml), env())
			if err == nil {
				t.Fatalf("accepted:\n%s", c.yaml)
			}
			got := err.Error()
			if strings.HasSuffix(c.want, " ") {
				if !strings.HasPrefix(got, c.want) {
					t.Errorf("error %q, want it to start with %q", got, c.want)
				}
			} else if got != c.want {
				t.Errorf("error\n %q\nwant\n %q", got, c.want)
			}
			if strings.Contains(got, "\n") {
				t.Errorf("error is more than one line: %q", got)
			}
		})
	}
}

func TestParse_VerifyIsInheritedAndOverriddenKeyByKey(t *testing.T) {
	cfg, err := Parse([]byte(`
destination: /b
verify: {every: 12h, sample: 25%, max-rcu: 50.5}
tables:
  - name: aaa
  - name: bbb
    verify: {sample: 1, recheck-within: 2m}
  - name: ccc
    verify: {every: 0}
`), env())
	if err != nil {
		t.Fatal(err)
	}
	want := []Verify{
		{Every: 12 * time.Hour, Sample: 0.25, MaxRCU: 50.5, RecheckWithin: DefaultVerifyRecheck},
		{Every: 12 * time.Hour, Sample: 1, MaxRCU: 50.5, RecheckWithin: 2 * time.Minute},
		{Every: 0, Sample: 0.25, MaxRCU: 50.5, RecheckWithin: DefaultVerifyRecheck},
	}
	for i, w := range want {
		if got := cfg.Tables[i].Verify; got != w {
			t.Errorf("table %s verify = %+v, want %+v", cfg.Tables[i].Name, got, w)
		}
	}
}

func TestParse_FieldErrorsAreTypedWithTheirField(t *testing.T) {
	_, err := Parse([]byte("destination: /b\ntables:\n  - name: orders\n  - {}\n"), env())
	var ce *Error
	if !errors.As(err, &ce) || ce.Field != "tables[1].name" || ce.Msg != "required" {
		t.Fatalf("error %v (%T), want *Error for tables[1].name", err, err)
	}
}

func TestParse_ExpandsEnvironmentBeforeParsing(t *testing.T) {
	cfg, err := Parse([]byte(`
destination: s3://${BUCKET}/${PREFIX:-ddbtape}
region: "${REGION:-us-east-1}"
tables:
  - name: ${TABLE}
http:
  address: ${ADDR:-:9090}
`), env("BUCKET", "acme", "TABLE", "orders", "ADDR", "127.0.0.1:9191"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Destination != "s3://acme/ddbtape" || cfg.Region != "us-east-1" || cfg.Tables[0].Name != "orders" || cfg.HTTP.Address != "127.0.0.1:9191" {
		t.Errorf("expanded config = %+v", cfg)
	}
}

func TestLoad_NamesTheFileInErrors(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(path, []byte("destination: /b\ntables:\n  - name: orders\nroll: {records: 0}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Load(path, env())
	if err == nil || err.Error() != "config "+path+": roll.records: must be positive, got 0" {
		t.Errorf("error %v", err)
	}
	if _, err := Load(filepath.Join(t.TempDir(), "missing.yaml"), env()); err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: error %v, want one wrapping os.ErrNotExist", err)
	}
}

func TestLoad_RefusesAHugeFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "huge.yaml")
	if err := os.WriteFile(path, make([]byte, MaxFileSize+1), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(path, env()); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("error %v, want a size refusal", err)
	}
}

func TestParse_MergeKeysReuseSettingsAndAreChecked(t *testing.T) {
	cfg, err := Parse([]byte("destination: /b\nroll: &r {records: 5}\ntables:\n  - name: abc\n    roll: {<<: *r, age: 5s}\n"), env())
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Tables[0].Roll; got != (Roll{Records: 5, Bytes: DefaultRollBytes, Age: 5 * time.Second}) {
		t.Errorf("roll = %+v, want records merged from the anchor and age from the table", got)
	}
	_, err = Parse([]byte("destination: /b\nx: &r {records: 5}\ntables: [{name: abc}]\n"), env())
	if err == nil || !strings.HasPrefix(err.Error(), "x: unknown key") {
		t.Errorf("error %v, want the anchor's unknown key named", err)
	}
}
