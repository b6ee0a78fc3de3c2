package catalog

import (
	"fmt"
	"strings"
	"time"
)

// At is a parsed --at value: a time, or the end of the restorable window.
type At struct {
	Latest bool      // "now" or "latest"
	Time   time.Time // UTC; zero when Latest
}

// ParseAt reads an --at value: RFC 3339 ("2026-03-01T10:42:16Z", with an offset or
// fractional seconds if wanted), or "now"/"latest" for the end of the restorable window.
// The time is inclusive: changes stamped at it are applied.
func ParseAt(s string) (At, error) {
	v := strings.TrimSpace(s)
	switch strings.ToLower(v) {
	case "now", "latest":
		return At{Latest: true}, nil
	case "":
		return At{}, fmt.Errorf("--at is empty: give an RFC 3339 time such as 2026-03-01T10:42:16Z, or now/latest")
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return At{}, fmt.Errorf("--at %q is not a time: give RFC 3339 such as 2026-03-01T10:42:16Z (or with an offset, +02:00), or now/latest", s)
	}
	if t.Year() < 2012 {
		// DynamoDB Streams did not exist before; such a time is a typo, not a restore point.
		return At{}, fmt.Errorf("--at %q is before DynamoDB Streams existed (2012): check the date", s)
	}
	return At{Time: t.UTC()}, nil
}

// Resolve turns the value into a time: Latest becomes the end of the last window, to the
// whole second when that second is still restorable. ok is false when nothing is.
func (a At) Resolve(windows []Window) (time.Time, bool) {
	if !a.Latest {
		return a.Time, true
	}
	if len(windows) == 0 {
		return time.Time{}, false
	}
	last := windows[len(windows)-1]
	t := last.Until.Truncate(time.Second)
	if t.Before(last.From) {
		t = last.Until
	}
	return t.UTC(), true
}

// String gives the value back in the form ParseAt reads.
func (a At) String() string {
	if a.Latest {
		return "latest"
	}
	return a.Time.Format(time.RFC3339Nano)
}
