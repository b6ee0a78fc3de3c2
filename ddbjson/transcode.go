package ddbjson

import (
	"encoding/base64"
	"slices"
	"strings"
)

// Transcoder turns the DynamoDB JSON of items as the wire carries them (a GetRecords
// answer's Keys, NewImage and OldImage) straight into the stored form FromStreams writes,
// without building AttributeValue trees: the same bytes FromStreams gives for the item
// the SDK would have decoded from that JSON, for every item DynamoDB sends. Capture reads
// every stream record this way; the SDK's tree, and FromStreams walking it, cost more than
// the rest of capture together.
//
// Attribute names are sorted bytewise at every level, strings re-escaped as appendString
// does, binary re-encoded as standard padded base64 (the wire's is decoded as the SDK
// decodes it), NULL written as true (as FromStreams writes it). Anything that is not a
// DynamoDB JSON item is an error wrapping ErrSyntax: a record DynamoDB never sends stops
// capture loudly rather than being stored in a form a restore would read differently.
//
// A Transcoder reuses its buffers; it is not safe for concurrent use.
type Transcoder struct {
	d      decoder
	levels []*level
	bin    []byte
}

// level is the scratch of one map nesting level: its values encoded in arrival order
// into buf, then copied out in name order.
type level struct {
	buf   []byte
	attrs []span
}

type span struct {
	name       string
	start, end int
}

// Item parses the item whose JSON begins at offset at in src (after optional whitespace)
// and appends its stored form to dst. It returns dst and the offset just past the item.
func (t *Transcoder) Item(dst []byte, src string, at int) ([]byte, int, error) {
	t.d = decoder{s: src, i: at}
	dst, err := t.item(dst, 0)
	return dst, t.d.i, err
}

func (t *Transcoder) level(depth int) *level {
	for len(t.levels) <= depth {
		t.levels = append(t.levels, &level{})
	}
	return t.levels[depth]
}

func (t *Transcoder) item(dst []byte, depth int) ([]byte, error) {
	d := &t.d
	if depth > MaxDepth {
		return dst, d.errorf("nesting deeper than %d levels", MaxDepth)
	}
	if err := d.expect('{', "'{' opening an item"); err != nil {
		return dst, err
	}
	if d.peek() == '}' {
		d.i++
		return append(dst, "{}"...), nil
	}
	lv := t.level(depth)
	lv.buf, lv.attrs = lv.buf[:0], lv.attrs[:0]
	for {
		name, err := d.str("attribute name")
		if err != nil {
			return dst, err
		}
		if err := d.expect(':', "':' after attribute name"); err != nil {
			return dst, err
		}
		start := len(lv.buf)
		if lv.buf, err = t.value(lv.buf, depth); err != nil {
			return dst, err
		}
		lv.attrs = append(lv.attrs, span{name, start, len(lv.buf)})
		c := d.peek()
		if c == '}' {
			d.i++
			break
		}
		if c != ',' {
			return dst, d.errorf("found %s, want ',' or '}' in item", d.describe())
		}
		d.i++
	}
	as := lv.attrs
	if len(as) <= 16 {
		for i := 1; i < len(as); i++ {
			for j := i; j > 0 && as[j].name < as[j-1].name; j-- {
				as[j], as[j-1] = as[j-1], as[j]
			}
		}
	} else {
		slices.SortFunc(as, func(a, b span) int { return strings.Compare(a.name, b.name) })
	}
	dst = append(dst, '{')
	for i, a := range as {
		if i > 0 {
			if a.name == as[i-1].name {
				return dst, d.errorf("duplicate attribute name %q", a.name)
			}
			dst = append(dst, ',')
		}
		var err error
		if dst, err = appendString(dst, a.name); err != nil {
			return dst, err
		}
		dst = append(dst, ':')
		dst = append(dst, lv.buf[a.start:a.end]...)
	}
	return append(dst, '}'), nil
}

// value transcodes one attribute value: an object with exactly one type tag.
func (t *Transcoder) value(dst []byte, depth int) ([]byte, error) {
	d := &t.d
	if err := d.expect('{', "'{' opening an attribute value"); err != nil {
		return dst, err
	}
	if d.peek() == '}' {
		return dst, d.errorf("attribute value has no type tag")
	}
	tagAt := d.i
	tag, err := d.str("type tag")
	if err != nil {
		return dst, err
	}
	if err := d.expect(':', "':' after type tag"); err != nil {
		return dst, err
	}
	switch tag {
	case "S", "N":
		dst = append(dst, `{"`...)
		dst = append(dst, tag...)
		dst = append(dst, `":`...)
		what := "S value (a string)" // built once, not per value
		if tag == "N" {
			what = "N value (a string)"
		}
		var s string
		if s, err = d.str(what); err == nil {
			dst, err = appendString(dst, s)
		}
	case "B":
		dst = append(dst, `{"B":`...)
		dst, err = t.binary(dst)
	case "BOOL", "NULL":
		var b bool
		if b, err = d.boolean(); err == nil {
			if tag == "NULL" {
				dst = append(dst, `{"NULL":true`...)
			} else {
				dst = appendBool(dst, b)
			}
		}
	case "SS", "NS":
		dst = append(dst, `{"`...)
		dst = append(dst, tag...)
		dst = append(dst, `":[`...)
		what := tag + " element (a string)"
		dst, err = t.elements(dst, tag, func(dst []byte) ([]byte, error) {
			s, err := d.str(what)
			if err != nil {
				return dst, err
			}
			return appendString(dst, s)
		})
	case "BS":
		dst = append(dst, `{"BS":[`...)
		dst, err = t.elements(dst, tag, t.binary)
	case "L":
		if depth+1 > MaxDepth {
			return dst, d.errorf("nesting deeper than %d levels", MaxDepth)
		}
		dst = append(dst, `{"L":[`...)
		dst, err = t.elements(dst, tag, func(dst []byte) ([]byte, error) { return t.value(dst, depth+1) })
	case "M":
		dst = append(dst, `{"M":`...)
		dst, err = t.item(dst, depth+1)
	default:
		d.i = tagAt
		return dst, d.errorf("unknown type tag %q (want S, N, B, BOOL, NULL, SS, NS, BS, L or M)", tag)
	}
	if err != nil {
		return dst, err
	}
	switch d.peek() {
	case '}':
		d.i++
		return append(dst, '}'), nil
	case ',':
		return dst, d.errorf("attribute value has more than one type tag")
	default:
		return dst, d.errorf("found %s, want '}' closing the attribute value", d.describe())
	}
}

// elements transcodes the elements of an array with elem, comma-separated, and closes it.
func (t *Transcoder) elements(dst []byte, tag string, elem func([]byte) ([]byte, error)) ([]byte, error) {
	n := 0
	err := t.d.array(tag, func() error {
		if n > 0 {
			dst = append(dst, ',')
		}
		n++
		var err error
		dst, err = elem(dst)
		return err
	})
	return append(dst, ']'), err
}

// binary re-encodes a base64 string, decoded as the SDK decodes it (standard alphabet,
// line breaks ignored), as standard padded base64.
func (t *Transcoder) binary(dst []byte) ([]byte, error) {
	d := &t.d
	d.space()
	at := d.i
	s, err := d.str("B value (a base64 string)")
	if err != nil {
		return dst, err
	}
	t.bin = t.bin[:0]
	if n := base64.StdEncoding.DecodedLen(len(s)); cap(t.bin) < n {
		t.bin = make([]byte, 0, n)
	}
	b := t.bin[:base64.StdEncoding.DecodedLen(len(s))]
	n, err := base64.StdEncoding.Decode(b, []byte(s))
	if err != nil {
		d.i = at
		return dst, d.errorf("invalid base64: %v", err)
	}
	return appendBase64(dst, b[:n]), nil
}
