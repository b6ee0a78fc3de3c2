package config

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Duration is a YAML duration: Go's form (36h, 90m, 1h30m) plus days (90d, 1d12h),
// because retention and snapshot intervals are naturally said in days.
type Duration time.Duration

// UnmarshalYAML reads a duration scalar.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("want a duration (e.g. 90d, 36h), got %s", describe(n))
	}
	v, err := ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("%q is not a duration (use e.g. 90d, 36h)", n.Value)
	}
	*d = Duration(v)
	return nil
}

// ParseDuration reads Go's duration syntax extended with a "d" unit of 24 hours. A bare
// number other than 0 has no unit and is refused.
func ParseDuration(s string) (time.Duration, error) {
	orig := s
	neg := false
	if s != "" && (s[0] == '-' || s[0] == '+') {
		neg = s[0] == '-'
		s = s[1:]
	}
	if s == "" {
		return 0, fmt.Errorf("duration %q: empty", orig)
	}
	if s == "0" {
		return 0, nil
	}
	var days float64
	var rest strings.Builder
	for s != "" {
		i := 0
		for i < len(s) && (s[i] == '.' || '0' <= s[i] && s[i] <= '9') {
			i++
		}
		j := i
		for j < len(s) && !(s[j] == '.' || '0' <= s[j] && s[j] <= '9') {
			j++
		}
		num, unit := s[:i], s[i:j]
		if num == "" || unit == "" {
			return 0, fmt.Errorf("duration %q: want number and unit pairs such as 90d or 1h30m", orig)
		}
		if unit == "d" {
			v, err := strconv.ParseFloat(num, 64)
			if err != nil {
				return 0, fmt.Errorf("duration %q: bad number %q", orig, num)
			}
			days += v
		} else {
			rest.WriteString(s[:j])
		}
		s = s[j:]
	}
	total := days * float64(24*time.Hour)
	if total >= math.MaxInt64 {
		return 0, fmt.Errorf("duration %q: too long", orig)
	}
	d := time.Duration(total)
	if rest.Len() > 0 {
		r, err := time.ParseDuration(rest.String())
		if err != nil {
			return 0, fmt.Errorf("duration %q: %w", orig, err)
		}
		if d > math.MaxInt64-r {
			return 0, fmt.Errorf("duration %q: too long", orig)
		}
		d += r
	}
	if neg {
		d = -d
	}
	return d, nil
}

// ByteSize is a size in bytes: a whole number, or one with a unit (KB, MB, GB in powers
// of 1000; KiB, MiB, GiB in powers of 1024; B).
type ByteSize int64

// UnmarshalYAML reads a size scalar.
func (b *ByteSize) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("want a size (e.g. 67108864, 64MiB), got %s", describe(n))
	}
	v, err := ParseByteSize(n.Value)
	if err != nil {
		return fmt.Errorf("%q is not a size (use e.g. 67108864, 64MiB)", n.Value)
	}
	*b = ByteSize(v)
	return nil
}

var byteUnits = []struct {
	suffix string
	mult   int64
}{
	// Longest suffixes first, so "MiB" is not read as "B".
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30},
	{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9},
	{"B", 1},
}

// ParseByteSize reads a ByteSize.
func ParseByteSize(s string) (int64, error) {
	s = strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range byteUnits {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSpace(strings.TrimSuffix(s, u.suffix)), u.mult
			break
		}
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, errors.New("not a size")
	}
	if v > math.MaxInt64/mult || v < math.MinInt64/mult {
		return 0, errors.New("size out of range")
	}
	return v * mult, nil
}

// Fraction is a share of something: a number from 0 to 1 (0.25) or a percentage ("25%").
type Fraction float64

// UnmarshalYAML reads a fraction scalar.
func (f *Fraction) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("want a fraction (e.g. 0.1 or 10%%), got %s", describe(n))
	}
	v, err := ParseFraction(n.Value)
	if err != nil {
		return err
	}
	*f = Fraction(v)
	return nil
}

// ParseFraction reads 0.25 or 25% as 0.25. It does not check the range.
func ParseFraction(s string) (float64, error) {
	t := strings.TrimSpace(s)
	pct := strings.HasSuffix(t, "%")
	v, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(t, "%")), 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, fmt.Errorf("%q is not a fraction (use e.g. 0.1 or 10%%)", s)
	}
	if pct {
		v /= 100
	}
	return v, nil
}
