package ddbjson

import (
	"bytes"
	"fmt"
	"slices"
	"strconv"
	"strings"

	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Canonical returns the item in s in a form where two items DynamoDB considers equal are
// equal strings: names sorted (as always), set elements sorted and deduplicated, and
// numbers normalised ("1.50", "+1.5" and "15E-1" all become "1.5"). Restore's dry-run and
// verify compare items this way, because DynamoDB returns set elements in no fixed order.
//
// Binary sets are sorted by their bytes, string sets by their UTF-8 bytes and number sets
// by their normalised text (any fixed order will do: only equality matters).
func Canonical(s string) (string, error) {
	m, err := ToDynamoDB(s)
	if err != nil {
		return "", err
	}
	canonicalMap(m)
	return FromDynamoDB(m)
}

func canonicalMap(m map[string]ddbtypes.AttributeValue) {
	for _, v := range m {
		canonicalValue(v)
	}
}

// canonicalValue rewrites v in place; it only sees values ToDynamoDB made, so every number
// has already parsed.
func canonicalValue(v ddbtypes.AttributeValue) {
	switch v := v.(type) {
	case *ddbtypes.AttributeValueMemberN:
		v.Value = normalNumber(v.Value)
	case *ddbtypes.AttributeValueMemberSS:
		slices.Sort(v.Value)
		v.Value = slices.Compact(v.Value)
	case *ddbtypes.AttributeValueMemberNS:
		for i, n := range v.Value {
			v.Value[i] = normalNumber(n)
		}
		slices.Sort(v.Value)
		v.Value = slices.Compact(v.Value)
	case *ddbtypes.AttributeValueMemberBS:
		slices.SortFunc(v.Value, bytes.Compare)
		v.Value = slices.CompactFunc(v.Value, bytes.Equal)
	case *ddbtypes.AttributeValueMemberL:
		for _, x := range v.Value {
			canonicalValue(x)
		}
	case *ddbtypes.AttributeValueMemberM:
		canonicalMap(v.Value)
	}
}

// number is a decimal split into its parts without copying: value = ±int.frac × 10^exp.
type number struct {
	neg       bool
	int, frac string // digits before and after the point; either may be empty
	exp       int64
}

// expCap stops exponent accumulation long before int64 overflows; anything that large is
// far outside DynamoDB's range and is rejected by checkNumber.
const expCap = 1 << 40

// parseNumber accepts DynamoDB's number syntax: an optional sign, digits with an optional
// decimal point (at least one digit in all), an optional exponent. It does not allocate.
func parseNumber(s string) (number, bool) {
	var n number
	i := 0
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		n.neg = s[i] == '-'
		i++
	}
	start := i
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	n.int = s[start:i]
	if i < len(s) && s[i] == '.' {
		i++
		start = i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		n.frac = s[start:i]
	}
	if n.int == "" && n.frac == "" {
		return n, false
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		eneg := false
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			eneg = s[i] == '-'
			i++
		}
		start = i
		for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
			if n.exp < expCap {
				n.exp = n.exp*10 + int64(s[i]-'0')
			}
		}
		if i == start {
			return n, false
		}
		if eneg {
			n.exp = -n.exp
		}
	}
	return n, i == len(s)
}

// significant returns the count of significant digits and the decimal exponent of the
// leading one (value = d.ddd × 10^sciExp); sig is 0 for zero.
func (n number) significant() (sig int, sciExp int64) {
	if it := strings.TrimLeft(n.int, "0"); it != "" {
		if fr := strings.TrimRight(n.frac, "0"); fr != "" {
			sig = len(it) + len(fr)
		} else {
			sig = len(strings.TrimRight(it, "0"))
		}
		return sig, n.exp + int64(len(it)) - 1
	}
	f := strings.TrimLeft(n.frac, "0")
	lead := len(n.frac) - len(f)
	f = strings.TrimRight(f, "0")
	if f == "" {
		return 0, 0
	}
	return len(f), n.exp - int64(lead) - 1
}

// DynamoDB's number limits: 38 significant digits, magnitude 1E-130 to 9.9…9E+125.
const (
	maxSignificant = 38
	minSciExp      = -130
	maxSciExp      = 125
)

// checkNumber says what is wrong with s as a DynamoDB number, or returns "".
func checkNumber(s string) string {
	n, ok := parseNumber(s)
	if !ok {
		return "is not a number"
	}
	sig, e := n.significant()
	switch {
	case sig > maxSignificant:
		return fmt.Sprintf("has %d significant digits (DynamoDB keeps at most %d)", sig, maxSignificant)
	case sig > 0 && (e < minSciExp || e > maxSciExp):
		return "is outside DynamoDB's number range (1E-130 to 9.99E+125)"
	}
	return ""
}

// digits returns the significant digits without leading or trailing zeros.
func (n number) digits() string {
	d := strings.TrimLeft(n.int+n.frac, "0")
	return strings.TrimRight(d, "0")
}

// plainLimit is how far from the decimal point a normalised number is still written in
// plain notation; beyond it, scientific notation keeps the text short.
const plainLimit = 40

// normalNumber writes a number in one fixed form: plain decimal ("-12.5", "0.001") when
// that is short, otherwise d.dddE±x. It returns s unchanged if s does not parse.
func normalNumber(s string) string {
	n, ok := parseNumber(s)
	if !ok {
		return s
	}
	digits := n.digits()
	if digits == "" {
		return "0"
	}
	_, sci := n.significant()
	exp := sci + 1 // value = 0.digits × 10^exp
	var b strings.Builder
	if n.neg {
		b.WriteByte('-')
	}
	nd := int64(len(digits))
	switch {
	case exp >= nd && exp <= plainLimit: // integer
		b.WriteString(digits)
		b.WriteString(strings.Repeat("0", int(exp-nd)))
	case exp > 0 && exp < nd: // point inside the digits
		b.WriteString(digits[:exp])
		b.WriteByte('.')
		b.WriteString(digits[exp:])
	case exp <= 0 && exp > -plainLimit: // 0.000ddd
		b.WriteString("0.")
		b.WriteString(strings.Repeat("0", int(-exp)))
		b.WriteString(digits)
	default:
		b.WriteString(digits[:1])
		if nd > 1 {
			b.WriteByte('.')
			b.WriteString(digits[1:])
		}
		b.WriteByte('E')
		sci := exp - 1
		if sci >= 0 {
			b.WriteByte('+')
		}
		b.WriteString(strconv.FormatInt(sci, 10))
	}
	return b.String()
}
