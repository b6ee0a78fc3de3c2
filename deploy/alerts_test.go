package deploy

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/ddbtape/ddbtape/metrics"
)

// promtool returns the path of Prometheus's promtool, installing it into .cache/ with
// scripts/promtool.sh when needed. Without it the test fails in CI, naming what to
// install, and is skipped elsewhere.
func promtool(t *testing.T) string {
	t.Helper()
	out, err := exec.Command(filepath.Join("..", "scripts", "promtool.sh"), "path").CombinedOutput()
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if err == nil && len(lines) > 0 {
		if p := lines[len(lines)-1]; filepath.IsAbs(p) {
			return p
		}
	}
	msg := "promtool is needed to test deploy/alerts.yaml: install the Debian package prometheus, or run scripts/promtool.sh install (" +
		strings.TrimSpace(string(out)) + ")"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

func TestAlerts_PromtoolRuleTests(t *testing.T) {
	bin := promtool(t)
	for _, args := range [][]string{{"check", "rules", "alerts.yaml"}, {"test", "rules", "alerts_test.yaml"}} {
		out, err := exec.Command(bin, args...).CombinedOutput()
		if err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

type ruleFile struct {
	Groups []struct {
		Rules []struct {
			Alert string `yaml:"alert"`
			Expr  string `yaml:"expr"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

type ruleTests struct {
	Tests []struct {
		InputSeries []struct {
			Series string `yaml:"series"`
		} `yaml:"input_series"`
		AlertRuleTest []struct {
			Alertname string `yaml:"alertname"`
			ExpAlerts []any  `yaml:"exp_alerts"`
		} `yaml:"alert_rule_test"`
	} `yaml:"tests"`
}

func readYAML(t *testing.T, name string, v any) {
	t.Helper()
	data, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(data, v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

// exported returns every series name ddbtape's metrics expose, with its label names,
// after every Recorder method has been called once.
func exported(t *testing.T) map[string][]string {
	t.Helper()
	m := metrics.New(metrics.Options{AppName: "a", WorkerID: "w", NoRuntime: true})
	now := time.Now()
	calls := map[string]func(){
		"ShardStarted":       func() { m.ShardStarted("t", "s") },
		"ShardStopped":       func() {},
		"GetRecordsCall":     func() { m.GetRecordsCall("t", "s") },
		"RecordsCaptured":    func() { m.RecordsCaptured("t", "s", 1, 1, now) },
		"ShardCaughtUp":      func() { m.ShardCaughtUp("t", "s", now) },
		"Throttled":          func() { m.Throttled("t", "GetRecords") },
		"Retried":            func() { m.Retried("t", "GetRecords") },
		"SegmentWritten":     func() { m.SegmentWritten("t", 1, 1) },
		"CheckpointSaved":    func() { m.CheckpointSaved("t", "s", now) },
		"Gap":                func() { m.Gap("t", "s", "trimmed") },
		"RetriesExhausted":   func() { m.RetriesExhausted("t", "GetRecords") },
		"LeasesUnowned":      func() { m.LeasesUnowned("t", 1) },
		"SnapshotFinished":   func() { m.SnapshotFinished("t", time.Second, nil) },
		"CompactionFinished": func() { m.CompactionFinished("t", time.Second, errors.New("x")) },
		"RestorableWindow":   func() { m.RestorableWindow("t", now, now) },
		"NewestSnapshot":     func() { m.NewestSnapshot("t", now) },
		"TableScheduled":     func() { m.TableScheduled("t", metrics.Schedule{SnapshotEvery: time.Hour, VerifyEvery: time.Hour}) },
		"VerifyFinished":     func() { m.VerifyFinished("t", metrics.Verification{Result: metrics.VerifyPass, LastPass: now}) },
		"VerifyKnown":        func() { m.VerifyKnown("t", metrics.Verification{Result: metrics.VerifyPass, LastPass: now}) },
	}
	rt := reflect.TypeFor[metrics.Recorder]()
	for i := range rt.NumMethod() {
		name := rt.Method(i).Name
		call, ok := calls[name]
		if !ok {
			t.Fatalf("metrics.Recorder.%s is not exercised here: add it, so its series are known to the alert tests", name)
		}
		call()
	}
	families, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for _, f := range families {
		var labels []string
		for _, l := range f.GetMetric()[0].GetLabel() {
			labels = append(labels, l.GetName())
		}
		sort.Strings(labels)
		name := f.GetName()
		if f.GetType().String() == "HISTOGRAM" {
			out[name+"_bucket"] = append(slices.Clone(labels), "le")
			out[name+"_sum"], out[name+"_count"] = labels, labels
			continue
		}
		out[name] = labels
	}
	return out
}

var (
	metricName = regexp.MustCompile(`\bddbtape_[a-z0-9_]+`)
	seriesRE   = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)\{(.*)\}$`)
	labelRE    = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)="[^"]*"`)
)

// TestAlerts_UseTheSeriesDdbtapeExports keeps the rules and their tests honest: every
// metric an alert reads and every series a test feeds is one that ddbtape exports, with
// exactly its labels (plus the scrape's job and instance); every alert is shown firing
// by a test, and deploy/README.md says what to do for each.
func TestAlerts_UseTheSeriesDdbtapeExports(t *testing.T) {
	have := exported(t)
	var rules ruleFile
	readYAML(t, "alerts.yaml", &rules)
	var tests ruleTests
	readYAML(t, "alerts_test.yaml", &tests)
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}

	fired := map[string]bool{}
	for _, tc := range tests.Tests {
		for _, s := range tc.InputSeries {
			m := seriesRE.FindStringSubmatch(s.Series)
			if m == nil {
				t.Errorf("test series %q: not name{labels}", s.Series)
				continue
			}
			want, ok := have[m[1]]
			if !ok {
				t.Errorf("test series %s: ddbtape exports no such metric", m[1])
				continue
			}
			var got []string
			for _, l := range labelRE.FindAllStringSubmatch(m[2], -1) {
				if l[1] != "job" && l[1] != "instance" {
					got = append(got, l[1])
				}
			}
			sort.Strings(got)
			if !slices.Equal(got, want) {
				t.Errorf("test series %s has labels %v, ddbtape exports %v (plus job and instance)", s.Series, got, want)
			}
		}
		for _, a := range tc.AlertRuleTest {
			if len(a.ExpAlerts) > 0 {
				fired[a.Alertname] = true
			}
		}
	}
	n := 0
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			n++
			for _, name := range metricName.FindAllString(r.Expr, -1) {
				if _, ok := have[name]; !ok {
					t.Errorf("alert %s reads %s, which ddbtape does not export", r.Alert, name)
				}
			}
			if !fired[r.Alert] {
				t.Errorf("alert %s: no promtool test shows it firing", r.Alert)
			}
			if !strings.Contains(string(readme), "`"+r.Alert+"`") {
				t.Errorf("alert %s: deploy/README.md does not say what to do for it", r.Alert)
			}
		}
	}
	if n == 0 {
		t.Fatal("alerts.yaml holds no rule")
	}
}
