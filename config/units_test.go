package config

import (
	"bytes"
	"testing"
	"time"

	"github.com/ddbtape/ddbtape/shards"
	"github.com/ddbtape/ddbtape/writer"
)

func TestParseDuration_AcceptsGoFormsAndDays(t *testing.T) {
	cases := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"0", 0, true},
		{"90d", 90 * 24 * time.Hour, true},
		{"36h", 36 * time.Hour, true},
		{"1d12h", 36 * time.Hour, true},
		{"1h30m", 90 * time.Minute, true},
		{"1.5d", 36 * time.Hour, true},
		{"-1d", -24 * time.Hour, true},
		{"500ms", 500 * time.Millisecond, true},
		{"30", 0, false},
		{"9x", 0, false},
		{"d", 0, false},
		{"", 0, false},
		{"-", 0, false},
		{"1..5d", 0, false},
		{"999999999d", 0, false},
		{"106752d", 0, false}, // past time.Duration's 292 years
		{"1d 2h", 0, false},
	}
	for _, c := range cases {
		got, err := ParseDuration(c.in)
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v, ok=%v", c.in, got, err, c.want, c.ok)
		}
	}
}

func TestParseByteSize_AcceptsNumbersAndUnits(t *testing.T) {
	cases := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"67108864", 64 << 20, true},
		{"64MiB", 64 << 20, true},
		{"64 MiB", 64 << 20, true},
		{"2MB", 2_000_000, true},
		{"1GiB", 1 << 30, true},
		{"10KB", 10_000, true},
		{"512B", 512, true},
		{"-1", -1, true},
		{"64XB", 0, false},
		{"MiB", 0, false},
		{"1.5MiB", 0, false},
		{"9999999999GiB", 0, false},
	}
	for _, c := range cases {
		got, err := ParseByteSize(c.in)
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("ParseByteSize(%q) = %v, %v; want %v, ok=%v", c.in, got, err, c.want, c.ok)
		}
	}
}

func TestExpand_ReplacesReferencesAndLeavesTheRest(t *testing.T) {
	get := env("A", "alpha", "EMPTY", "")
	cases := []struct {
		in, want string
	}{
		{"x: ${A}\n", "x: alpha\n"},
		{"x: ${B:-beta}\n", "x: beta\n"},
		{"x: ${EMPTY:-dflt}\n", "x: dflt\n"},
		{"x: ${B:-}\n", "x: \n"},
		{"x: ${A:-no}/${B:-b}\n", "x: alpha/b\n"},
		{"x: $${A}\n", "x: ${A}\n"},
		{"x: $A and $$ and $\n", "x: $A and $$ and $\n"},
		{"# ${UNSET} in a comment\nx: 1", "# ${UNSET} in a comment\nx: 1"},
		{"   # ${UNSET} indented comment\n", "   # ${UNSET} indented comment\n"},
		{"x: ${B:-a:-b}\n", "x: a:-b\n"},
	}
	for _, c := range cases {
		got, err := Expand([]byte(c.in), get)
		if err != nil || !bytes.Equal(got, []byte(c.want)) {
			t.Errorf("Expand(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
}

func TestExpand_RefusesBadReferencesNamingTheLine(t *testing.T) {
	cases := []struct {
		in, want string
	}{
		{"a: 1\nx: ${UNSET}\n", "line 2: environment variable UNSET is not set (set it, or write ${UNSET:-default})"},
		{"x: ${EMPTY}\n", "line 1: environment variable EMPTY is not set (set it, or write ${EMPTY:-default})"},
		{"x: ${A\n", "line 1: unclosed ${ (write ${VAR} or ${VAR:-default}; $${ for a literal ${)"},
		{"x: ${1A}\n", "line 1: ${1A} is not a variable reference (write ${VAR} or ${VAR:-default}; $${ for a literal ${)"},
		{"x: ${}\n", "line 1: ${} is not a variable reference (write ${VAR} or ${VAR:-default}; $${ for a literal ${)"},
		{"x: ${A B}\n", "line 1: ${A B} is not a variable reference (write ${VAR} or ${VAR:-default}; $${ for a literal ${)"},
	}
	for _, c := range cases {
		_, err := Expand([]byte(c.in), env("EMPTY", ""))
		if err == nil || err.Error() != c.want {
			t.Errorf("Expand(%q) error = %v, want %q", c.in, err, c.want)
		}
	}
}

// The file's defaults are the capture command's; they live here as constants so the
// config package does not pull in the Parquet writer.
func TestDefaults_MatchTheCaptureDefaults(t *testing.T) {
	roll := writer.DefaultRollPolicy()
	if roll.MaxRecords != DefaultRollRecords || roll.MaxBytes != DefaultRollBytes || roll.MaxAge != DefaultRollAge {
		t.Errorf("roll defaults %d/%d/%s differ from writer.DefaultRollPolicy %+v", DefaultRollRecords, DefaultRollBytes, DefaultRollAge, roll)
	}
	if DefaultPollInterval != shards.DefaultPollInterval || DefaultRetryBound != shards.DefaultRetryBound {
		t.Errorf("poll/retry defaults %s/%s differ from shards' %s/%s", DefaultPollInterval, DefaultRetryBound, shards.DefaultPollInterval, shards.DefaultRetryBound)
	}
}
