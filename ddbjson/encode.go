// Package ddbjson converts DynamoDB items to and from DynamoDB JSON, the wire form of the
// DynamoDB API (`{"pk":{"S":"a"},"n":{"N":"1.5"}}`), which is how ddbtape stores keys and
// images in Parquet.
//
// The form is lossless for every attribute type: numbers keep their exact decimal string
// (38 digits and all), binary is base64 (standard encoding, padded), sets keep their
// element order, maps and lists nest. Encoded output is deterministic: the attribute names
// of every map are sorted bytewise, with no whitespace, so the encoding of an item's key
// can be used as a merge key. Canonical additionally sorts set elements and normalises
// numbers, so two items DynamoDB considers equal give equal strings.
//
// The encoders run once per stream record and are hand-rolled on a pooled, appended
// []byte; encoding/json's reflection is not on that path.
package ddbjson

import (
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"unicode/utf8"

	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	streamstypes "github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"
)

// errInvalidUTF8 is returned for a string that is not UTF-8: DynamoDB never holds one,
// and JSON cannot carry it without loss.
var errInvalidUTF8 = errors.New("string is not valid UTF-8")

// encoder holds the reusable buffers of one encoding. streams and ddb are stacks of
// (name, value) slices, one per map nesting level, so sorting a map's attributes allocates
// nothing once the pool is warm.
type encoder struct {
	buf     []byte
	streams [][]attr[streamstypes.AttributeValue]
	ddb     [][]attr[ddbtypes.AttributeValue]
}

type attr[V any] struct {
	name  string
	value V
}

var encoderPool = sync.Pool{New: func() any { return &encoder{buf: make([]byte, 0, 1024)} }}

// maxPooledBuf keeps one huge item (400 KB is DynamoDB's limit, but binary grows by 4/3)
// from pinning its buffer in the pool forever.
const maxPooledBuf = 1 << 20

func getEncoder() *encoder {
	e := encoderPool.Get().(*encoder)
	e.buf = e.buf[:0]
	return e
}

func putEncoder(e *encoder) {
	if cap(e.buf) > maxPooledBuf {
		e.buf = make([]byte, 0, 1024)
	}
	// Drop references so pooled slices do not keep items alive.
	for i := range e.streams {
		clear(e.streams[i][:cap(e.streams[i])])
	}
	for i := range e.ddb {
		clear(e.ddb[i][:cap(e.ddb[i])])
	}
	encoderPool.Put(e)
}

// sortedAttrs returns m's attributes sorted by name (bytewise), in the depth's slice of
// stack. One pass over the map collects names and values together, so no lookup follows.
func sortedAttrs[V any](stack *[][]attr[V], depth int, m map[string]V) []attr[V] {
	for len(*stack) <= depth {
		*stack = append(*stack, nil)
	}
	as := (*stack)[depth][:0]
	for k, v := range m {
		as = append(as, attr[V]{k, v})
	}
	// Items have a handful of attributes: insertion sort beats a general sort there.
	if len(as) <= 16 {
		for i := 1; i < len(as); i++ {
			for j := i; j > 0 && as[j].name < as[j-1].name; j-- {
				as[j], as[j-1] = as[j-1], as[j]
			}
		}
	} else {
		slices.SortFunc(as, func(a, b attr[V]) int { return strings.Compare(a.name, b.name) })
	}
	(*stack)[depth] = as
	return as
}

// FromStreams encodes an item of a DynamoDB Streams record (Keys, NewImage, OldImage).
// A nil map encodes as "{}".
func FromStreams(item map[string]streamstypes.AttributeValue) (string, error) {
	e := getEncoder()
	defer putEncoder(e)
	if err := e.streamsMap(item, 0); err != nil {
		return "", err
	}
	return string(e.buf), nil
}

// FromDynamoDB encodes an item of the DynamoDB API (GetItem, Scan, Query). A nil map
// encodes as "{}".
func FromDynamoDB(item map[string]ddbtypes.AttributeValue) (string, error) {
	e := getEncoder()
	defer putEncoder(e)
	if err := e.ddbMap(item, 0); err != nil {
		return "", err
	}
	return string(e.buf), nil
}

func (e *encoder) streamsMap(m map[string]streamstypes.AttributeValue, depth int) error {
	e.buf = append(e.buf, '{')
	for i, a := range sortedAttrs(&e.streams, depth, m) {
		if i > 0 {
			e.buf = append(e.buf, ',')
		}
		var err error
		if e.buf, err = appendString(e.buf, a.name); err != nil {
			return fmt.Errorf("attribute name %q: %w", a.name, err)
		}
		e.buf = append(e.buf, ':')
		if err := e.streamsValue(a.value, depth+1); err != nil {
			return fmt.Errorf("attribute %q: %w", a.name, err)
		}
	}
	e.buf = append(e.buf, '}')
	return nil
}

func (e *encoder) streamsValue(v streamstypes.AttributeValue, depth int) error {
	var err error
	switch v := v.(type) {
	case *streamstypes.AttributeValueMemberS:
		e.buf = append(e.buf, `{"S":`...)
		e.buf, err = appendString(e.buf, v.Value)
	case *streamstypes.AttributeValueMemberN:
		e.buf = append(e.buf, `{"N":`...)
		e.buf, err = appendString(e.buf, v.Value)
	case *streamstypes.AttributeValueMemberB:
		e.buf = append(e.buf, `{"B":`...)
		e.buf = appendBase64(e.buf, v.Value)
	case *streamstypes.AttributeValueMemberBOOL:
		e.buf = appendBool(e.buf, v.Value)
	case *streamstypes.AttributeValueMemberNULL:
		e.buf = append(e.buf, `{"NULL":true`...)
	case *streamstypes.AttributeValueMemberSS:
		e.buf = append(e.buf, `{"SS":`...)
		e.buf, err = appendStrings(e.buf, v.Value)
	case *streamstypes.AttributeValueMemberNS:
		e.buf = append(e.buf, `{"NS":`...)
		e.buf, err = appendStrings(e.buf, v.Value)
	case *streamstypes.AttributeValueMemberBS:
		e.buf = append(e.buf, `{"BS":`...)
		e.buf = appendBinaries(e.buf, v.Value)
	case *streamstypes.AttributeValueMemberL:
		e.buf = append(e.buf, `{"L":[`...)
		for i, x := range v.Value {
			if i > 0 {
				e.buf = append(e.buf, ',')
			}
			if err := e.streamsValue(x, depth+1); err != nil {
				return fmt.Errorf("list element %d: %w", i, err)
			}
		}
		e.buf = append(e.buf, ']')
	case *streamstypes.AttributeValueMemberM:
		e.buf = append(e.buf, `{"M":`...)
		err = e.streamsMap(v.Value, depth)
	case nil:
		return errors.New("nil attribute value")
	case *streamstypes.UnknownUnionMember:
		return fmt.Errorf("unknown attribute type %q (upgrade ddbtape's AWS SDK)", v.Tag)
	default:
		return fmt.Errorf("unsupported attribute value type %T", v)
	}
	if err != nil {
		return err
	}
	e.buf = append(e.buf, '}')
	return nil
}

func (e *encoder) ddbMap(m map[string]ddbtypes.AttributeValue, depth int) error {
	e.buf = append(e.buf, '{')
	for i, a := range sortedAttrs(&e.ddb, depth, m) {
		if i > 0 {
			e.buf = append(e.buf, ',')
		}
		var err error
		if e.buf, err = appendString(e.buf, a.name); err != nil {
			return fmt.Errorf("attribute name %q: %w", a.name, err)
		}
		e.buf = append(e.buf, ':')
		if err := e.ddbValue(a.value, depth+1); err != nil {
			return fmt.Errorf("attribute %q: %w", a.name, err)
		}
	}
	e.buf = append(e.buf, '}')
	return nil
}

func (e *encoder) ddbValue(v ddbtypes.AttributeValue, depth int) error {
	var err error
	switch v := v.(type) {
	case *ddbtypes.AttributeValueMemberS:
		e.buf = append(e.buf, `{"S":`...)
		e.buf, err = appendString(e.buf, v.Value)
	case *ddbtypes.AttributeValueMemberN:
		e.buf = append(e.buf, `{"N":`...)
		e.buf, err = appendString(e.buf, v.Value)
	case *ddbtypes.AttributeValueMemberB:
		e.buf = append(e.buf, `{"B":`...)
		e.buf = appendBase64(e.buf, v.Value)
	case *ddbtypes.AttributeValueMemberBOOL:
		e.buf = appendBool(e.buf, v.Value)
	case *ddbtypes.AttributeValueMemberNULL:
		e.buf = append(e.buf, `{"NULL":true`...)
	case *ddbtypes.AttributeValueMemberSS:
		e.buf = append(e.buf, `{"SS":`...)
		e.buf, err = appendStrings(e.buf, v.Value)
	case *ddbtypes.AttributeValueMemberNS:
		e.buf = append(e.buf, `{"NS":`...)
		e.buf, err = appendStrings(e.buf, v.Value)
	case *ddbtypes.AttributeValueMemberBS:
		e.buf = append(e.buf, `{"BS":`...)
		e.buf = appendBinaries(e.buf, v.Value)
	case *ddbtypes.AttributeValueMemberL:
		e.buf = append(e.buf, `{"L":[`...)
		for i, x := range v.Value {
			if i > 0 {
				e.buf = append(e.buf, ',')
			}
			if err := e.ddbValue(x, depth+1); err != nil {
				return fmt.Errorf("list element %d: %w", i, err)
			}
		}
		e.buf = append(e.buf, ']')
	case *ddbtypes.AttributeValueMemberM:
		e.buf = append(e.buf, `{"M":`...)
		err = e.ddbMap(v.Value, depth)
	case nil:
		return errors.New("nil attribute value")
	case *ddbtypes.UnknownUnionMember:
		return fmt.Errorf("unknown attribute type %q (upgrade ddbtape's AWS SDK)", v.Tag)
	default:
		return fmt.Errorf("unsupported attribute value type %T", v)
	}
	if err != nil {
		return err
	}
	e.buf = append(e.buf, '}')
	return nil
}

func appendBool(dst []byte, b bool) []byte {
	if b {
		return append(dst, `{"BOOL":true`...)
	}
	return append(dst, `{"BOOL":false`...)
}

func appendStrings(dst []byte, ss []string) ([]byte, error) {
	dst = append(dst, '[')
	for i, s := range ss {
		if i > 0 {
			dst = append(dst, ',')
		}
		var err error
		if dst, err = appendString(dst, s); err != nil {
			return dst, fmt.Errorf("set element %d: %w", i, err)
		}
	}
	return append(dst, ']'), nil
}

func appendBinaries(dst []byte, bs [][]byte) []byte {
	dst = append(dst, '[')
	for i, b := range bs {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendBase64(dst, b)
	}
	return append(dst, ']')
}

func appendBase64(dst []byte, b []byte) []byte {
	dst = append(dst, '"')
	dst = base64.StdEncoding.AppendEncode(dst, b)
	return append(dst, '"')
}

// plain marks the ASCII bytes that appear in a JSON string as themselves.
var plain = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string. Only '"', '\\' and control characters are
// escaped (no HTML escaping: the output is data, not markup); non-ASCII is kept as UTF-8.
func appendString(dst []byte, s string) ([]byte, error) {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if plain[c] {
			i++
			continue
		}
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				return dst, errInvalidUTF8
			}
			i += size
			continue
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		i++
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"'), nil
}
