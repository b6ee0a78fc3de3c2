package ddbjson

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"

	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// ErrSyntax is wrapped by every error ToDynamoDB and Canonical return for input that is
// not a DynamoDB JSON item; the message names the offset and what was wrong.
var ErrSyntax = errors.New("invalid DynamoDB JSON")

// MaxDepth bounds the nesting of maps and lists the decoder accepts. DynamoDB itself
// allows 32 levels; the bound keeps hostile input from driving recursion deep.
const MaxDepth = 64

// ToDynamoDB decodes one item. It accepts what FromStreams and FromDynamoDB produce and any
// equivalent JSON (whitespace, escapes, any name order), and rejects with an error wrapping
// ErrSyntax anything else: malformed JSON, unknown or missing type tags, two tags in one
// value, duplicate attribute names, NULL other than true, invalid base64 or numbers,
// strings that are not UTF-8, numbers DynamoDB cannot hold (more than 38 significant
// digits, magnitude outside 1E-130 to 9.99E+125).
//
// The parser is hand-written rather than encoding/json so that a duplicate name or a second
// tag is an error instead of silently overwriting the first.
func ToDynamoDB(s string) (map[string]ddbtypes.AttributeValue, error) {
	d := decoder{s: s}
	d.space()
	m, err := d.item(0)
	if err != nil {
		return nil, err
	}
	d.space()
	if d.i != len(d.s) {
		return nil, d.errorf("unexpected data after the item")
	}
	return m, nil
}

type decoder struct {
	s string
	i int
}

func (d *decoder) errorf(format string, args ...any) error {
	return fmt.Errorf("%w: offset %d: %s", ErrSyntax, d.i, fmt.Sprintf(format, args...))
}

func (d *decoder) space() {
	for d.i < len(d.s) {
		switch d.s[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

// expect consumes c after optional whitespace.
func (d *decoder) expect(c byte, what string) error {
	d.space()
	if d.i >= len(d.s) {
		return d.errorf("unexpected end of input, want %s", what)
	}
	if d.s[d.i] != c {
		return d.errorf("found %s, want %s", d.describe(), what)
	}
	d.i++
	return nil
}

// peek returns the next non-space byte, or 0 at the end.
func (d *decoder) peek() byte {
	d.space()
	if d.i >= len(d.s) {
		return 0
	}
	return d.s[d.i]
}

// describe names the token at the cursor for error messages.
func (d *decoder) describe() string {
	if d.i >= len(d.s) {
		return "end of input"
	}
	c := d.s[d.i]
	switch {
	case c == '"':
		return "a string"
	case c == '{':
		return "an object"
	case c == '[':
		return "an array"
	case c == 't' || c == 'f':
		return "a boolean"
	case c == 'n':
		return "null"
	case c == '-' || (c >= '0' && c <= '9'):
		return "a JSON number"
	}
	return strconv.QuoteRune(rune(c))
}

// item parses an object of attribute name to attribute value.
func (d *decoder) item(depth int) (map[string]ddbtypes.AttributeValue, error) {
	if depth > MaxDepth {
		return nil, d.errorf("nesting deeper than %d levels", MaxDepth)
	}
	if err := d.expect('{', "'{' opening an item"); err != nil {
		return nil, err
	}
	m := make(map[string]ddbtypes.AttributeValue)
	if d.peek() == '}' {
		d.i++
		return m, nil
	}
	for {
		d.space()
		at := d.i
		name, err := d.str("attribute name")
		if err != nil {
			return nil, err
		}
		if _, dup := m[name]; dup {
			d.i = at
			return nil, d.errorf("duplicate attribute name %q", name)
		}
		if err := d.expect(':', "':' after attribute name"); err != nil {
			return nil, err
		}
		v, err := d.value(depth)
		if err != nil {
			return nil, fmt.Errorf("attribute %q: %w", name, err)
		}
		m[name] = v
		switch d.peek() {
		case ',':
			d.i++
		case '}':
			d.i++
			return m, nil
		default:
			return nil, d.errorf("found %s, want ',' or '}' in item", d.describe())
		}
	}
}

// value parses one attribute value: an object with exactly one type tag.
func (d *decoder) value(depth int) (ddbtypes.AttributeValue, error) {
	if err := d.expect('{', "'{' opening an attribute value"); err != nil {
		return nil, err
	}
	if d.peek() == '}' {
		return nil, d.errorf("attribute value has no type tag")
	}
	tagAt := d.i
	tag, err := d.str("type tag")
	if err != nil {
		return nil, err
	}
	if err := d.expect(':', "':' after type tag"); err != nil {
		return nil, err
	}
	v, err := d.payload(tag, tagAt, depth)
	if err != nil {
		return nil, err
	}
	switch d.peek() {
	case '}':
		d.i++
		return v, nil
	case ',':
		return nil, d.errorf("attribute value has more than one type tag")
	default:
		return nil, d.errorf("found %s, want '}' closing the attribute value", d.describe())
	}
}

func (d *decoder) payload(tag string, tagAt, depth int) (ddbtypes.AttributeValue, error) {
	switch tag {
	case "S":
		s, err := d.str("S value (a string)")
		if err != nil {
			return nil, err
		}
		return &ddbtypes.AttributeValueMemberS{Value: s}, nil
	case "N":
		n, err := d.number()
		if err != nil {
			return nil, err
		}
		return &ddbtypes.AttributeValueMemberN{Value: n}, nil
	case "B":
		b, err := d.binary()
		if err != nil {
			return nil, err
		}
		return &ddbtypes.AttributeValueMemberB{Value: b}, nil
	case "BOOL":
		b, err := d.boolean()
		if err != nil {
			return nil, err
		}
		return &ddbtypes.AttributeValueMemberBOOL{Value: b}, nil
	case "NULL":
		b, err := d.boolean()
		if err != nil {
			return nil, err
		}
		if !b {
			return nil, d.errorf("NULL must be true")
		}
		return &ddbtypes.AttributeValueMemberNULL{Value: true}, nil
	case "SS":
		ss := []string{}
		err := d.array("SS", func() error {
			s, err := d.str("SS element (a string)")
			ss = append(ss, s)
			return err
		})
		if err != nil {
			return nil, err
		}
		return &ddbtypes.AttributeValueMemberSS{Value: ss}, nil
	case "NS":
		ns := []string{}
		err := d.array("NS", func() error {
			n, err := d.number()
			ns = append(ns, n)
			return err
		})
		if err != nil {
			return nil, err
		}
		return &ddbtypes.AttributeValueMemberNS{Value: ns}, nil
	case "BS":
		bs := [][]byte{}
		err := d.array("BS", func() error {
			b, err := d.binary()
			bs = append(bs, b)
			return err
		})
		if err != nil {
			return nil, err
		}
		return &ddbtypes.AttributeValueMemberBS{Value: bs}, nil
	case "L":
		if depth+1 > MaxDepth {
			return nil, d.errorf("nesting deeper than %d levels", MaxDepth)
		}
		l := []ddbtypes.AttributeValue{}
		err := d.array("L", func() error {
			v, err := d.value(depth + 1)
			if err != nil {
				return fmt.Errorf("list element %d: %w", len(l), err)
			}
			l = append(l, v)
			return nil
		})
		if err != nil {
			return nil, err
		}
		return &ddbtypes.AttributeValueMemberL{Value: l}, nil
	case "M":
		m, err := d.item(depth + 1)
		if err != nil {
			return nil, err
		}
		return &ddbtypes.AttributeValueMemberM{Value: m}, nil
	}
	d.i = tagAt
	return nil, d.errorf("unknown type tag %q (want S, N, B, BOOL, NULL, SS, NS, BS, L or M)", tag)
}

// array parses '[' elem (',' elem)* ']' calling elem for each element.
func (d *decoder) array(tag string, elem func() error) error {
	if err := d.expect('[', "'[' opening the "+tag+" array"); err != nil {
		return err
	}
	if d.peek() == ']' {
		d.i++
		return nil
	}
	for {
		if err := elem(); err != nil {
			return err
		}
		switch d.peek() {
		case ',':
			d.i++
		case ']':
			d.i++
			return nil
		default:
			return d.errorf("found %s, want ',' or ']' in %s array", d.describe(), tag)
		}
	}
}

func (d *decoder) boolean() (bool, error) {
	d.space()
	switch {
	case len(d.s)-d.i >= 4 && d.s[d.i:d.i+4] == "true":
		d.i += 4
		return true, nil
	case len(d.s)-d.i >= 5 && d.s[d.i:d.i+5] == "false":
		d.i += 5
		return false, nil
	}
	return false, d.errorf("found %s, want true or false", d.describe())
}

func (d *decoder) number() (string, error) {
	d.space()
	at := d.i
	n, err := d.str("N value (a number in a string)")
	if err != nil {
		return "", err
	}
	if msg := checkNumber(n); msg != "" {
		d.i = at
		return "", d.errorf("%q %s", n, msg)
	}
	return n, nil
}

func (d *decoder) binary() ([]byte, error) {
	d.space()
	at := d.i
	s, err := d.str("B value (a base64 string)")
	if err != nil {
		return nil, err
	}
	b, err := base64.StdEncoding.Strict().DecodeString(s)
	if err != nil {
		d.i = at
		return nil, d.errorf("invalid base64: %v", err)
	}
	return b, nil
}

// str parses a JSON string. Strings without escapes are returned as substrings of the
// input, so decoding an item allocates little beyond the values themselves.
func (d *decoder) str(what string) (string, error) {
	d.space()
	if d.i >= len(d.s) || d.s[d.i] != '"' {
		return "", d.errorf("found %s, want %s", d.describe(), what)
	}
	start := d.i + 1
	for j := start; j < len(d.s); {
		c := d.s[j]
		switch {
		case c == '"':
			d.i = j + 1
			return d.s[start:j], nil
		case c == '\\':
			return d.unescape(start, j)
		case c < 0x20:
			d.i = j
			return "", d.errorf("control character %#x in string", c)
		case c >= utf8.RuneSelf:
			r, size := utf8.DecodeRuneInString(d.s[j:])
			if r == utf8.RuneError && size == 1 {
				d.i = j
				return "", d.errorf("%s", errInvalidUTF8)
			}
			j += size
		default:
			j++
		}
	}
	d.i = len(d.s)
	return "", d.errorf("unterminated string")
}

// unescape finishes a string that has escapes; start is after the quote, j at the first
// backslash.
func (d *decoder) unescape(start, j int) (string, error) {
	buf := make([]byte, 0, j-start+16)
	buf = append(buf, d.s[start:j]...)
	for j < len(d.s) {
		c := d.s[j]
		switch {
		case c == '"':
			d.i = j + 1
			return string(buf), nil
		case c < 0x20:
			d.i = j
			return "", d.errorf("control character %#x in string", c)
		case c >= utf8.RuneSelf:
			r, size := utf8.DecodeRuneInString(d.s[j:])
			if r == utf8.RuneError && size == 1 {
				d.i = j
				return "", d.errorf("%s", errInvalidUTF8)
			}
			buf = append(buf, d.s[j:j+size]...)
			j += size
		case c != '\\':
			buf = append(buf, c)
			j++
		default:
			if j+1 >= len(d.s) {
				d.i = j
				return "", d.errorf("unterminated escape")
			}
			e := d.s[j+1]
			j += 2
			switch e {
			case '"', '\\', '/':
				buf = append(buf, e)
			case 'b':
				buf = append(buf, '\b')
			case 'f':
				buf = append(buf, '\f')
			case 'n':
				buf = append(buf, '\n')
			case 'r':
				buf = append(buf, '\r')
			case 't':
				buf = append(buf, '\t')
			case 'u':
				r, ok := hex4(d.s, j)
				if !ok {
					d.i = j - 2
					return "", d.errorf(`invalid \u escape`)
				}
				j += 4
				if utf16.IsSurrogate(r) {
					r2, ok := rune(-1), false
					if j+6 <= len(d.s) && d.s[j] == '\\' && d.s[j+1] == 'u' {
						r2, ok = hex4(d.s, j+2)
					}
					dec := utf16.DecodeRune(r, r2)
					if !ok || dec == utf8.RuneError {
						d.i = j - 6
						return "", d.errorf(`\u escape is a lone UTF-16 surrogate`)
					}
					r = dec
					j += 6
				}
				buf = utf8.AppendRune(buf, r)
			default:
				d.i = j - 2
				return "", d.errorf("invalid escape %q", d.s[j-2:j])
			}
		}
	}
	d.i = len(d.s)
	return "", d.errorf("unterminated string")
}

func hex4(s string, at int) (rune, bool) {
	if at+4 > len(s) {
		return 0, false
	}
	var r rune
	for _, c := range []byte(s[at : at+4]) {
		r <<= 4
		switch {
		case c >= '0' && c <= '9':
			r |= rune(c - '0')
		case c >= 'a' && c <= 'f':
			r |= rune(c - 'a' + 10)
		case c >= 'A' && c <= 'F':
			r |= rune(c - 'A' + 10)
		default:
			return 0, false
		}
	}
	return r, true
}
