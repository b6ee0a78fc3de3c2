package catalog

import (
	"strings"
	"testing"
	"time"
)

func TestParseAt_AcceptsRFC3339AndTheWindowEnd(t *testing.T) {
	tests := []struct {
		in   string
		want At
	}{
		{"2026-03-01T10:42:16Z", At{Time: at("10:42:16")}},
		{"2026-03-01T12:42:16+02:00", At{Time: at("10:42:16")}},
		{"2026-03-01T10:42:16.5Z", At{Time: at("10:42:16").Add(500 * time.Millisecond)}},
		{" 2026-03-01T10:42:16Z ", At{Time: at("10:42:16")}},
		{"now", At{Latest: true}},
		{"LATEST", At{Latest: true}},
	}
	for _, tc := range tests {
		got, err := ParseAt(tc.in)
		if err != nil {
			t.Errorf("ParseAt(%q): %v", tc.in, err)
			continue
		}
		if got.Latest != tc.want.Latest || !got.Time.Equal(tc.want.Time) || got.Time.Location() != time.UTC {
			t.Errorf("ParseAt(%q) = %+v, want %+v in UTC", tc.in, got, tc.want)
		}
	}
}

func TestParseAt_RejectsWithOneLineSayingWhatIsAccepted(t *testing.T) {
	for _, in := range []string{"", "yesterday", "2026-03-01", "2026-03-01 10:42:16", "1700000000", "2026-03-01T10:42:16", "0001-01-01T00:00:00Z"} {
		_, err := ParseAt(in)
		if err == nil {
			t.Errorf("ParseAt(%q) accepted", in)
			continue
		}
		if msg := err.Error(); strings.Contains(msg, "\n") || !strings.Contains(msg, "--at") {
			t.Errorf("ParseAt(%q) error %q", in, msg)
		}
	}
}

func TestAt_ResolveLatestIsTheWindowEndToTheSecond(t *testing.T) {
	ws := []Window{{From: at("09:00:00"), Until: at("10:00:00")}, {From: at("11:00:00"), Until: at("12:00:00").Add(700 * time.Millisecond)}}
	got, ok := At{Latest: true}.Resolve(ws)
	if !ok || !got.Equal(at("12:00:00")) {
		t.Errorf("latest = %s %v", got, ok)
	}
	// A window shorter than a second keeps its exact end.
	short := []Window{{From: at("12:00:00").Add(200 * time.Millisecond), Until: at("12:00:00").Add(700 * time.Millisecond)}}
	if got, _ := (At{Latest: true}).Resolve(short); !got.Equal(short[0].Until) {
		t.Errorf("latest in a short window = %s", got)
	}
	if _, ok := (At{Latest: true}).Resolve(nil); ok {
		t.Errorf("latest resolved without a window")
	}
	if got, _ := (At{Time: at("09:30:00")}).Resolve(ws); !got.Equal(at("09:30:00")) {
		t.Errorf("explicit time changed to %s", got)
	}
}

func FuzzParseAt(f *testing.F) {
	for _, s := range []string{"2026-03-01T10:42:16Z", "2026-03-01T10:42:16.123456789+05:30", "now", "Latest", "", "2026-13-01T00:00:00Z", "2011-12-31T23:59:59Z"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParseAt(s)
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("multi-line error for %q", s)
			}
			return
		}
		if a.Latest {
			if !a.Time.IsZero() {
				t.Errorf("latest with a time")
			}
			return
		}
		if a.Time.Location() != time.UTC || a.Time.Year() < 2012 {
			t.Errorf("ParseAt(%q) = %v", s, a.Time)
		}
		// What it prints parses back to the same instant.
		b, err := ParseAt(a.String())
		if err != nil || !b.Time.Equal(a.Time) {
			t.Errorf("round trip of %q: %v %v", s, b, err)
		}
	})
}
