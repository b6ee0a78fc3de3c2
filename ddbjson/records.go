package ddbjson

import (
	"math"
	"strconv"
	"time"
	"unsafe"

	streamstypes "github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"
)

// Page is a GetRecords answer as ReadPage reads it from the wire.
type Page struct {
	// NextShardIterator is nil once a closed shard has no more records.
	NextShardIterator *string
	// Records have every field the SDK would set except the items of their StreamRecord
	// (Keys, NewImage, OldImage), which are in Images, already in stored form.
	Records []streamstypes.Record
	Images  []Images
}

// Images are the items of one stream record in the stored form of FromStreams.
type Images struct {
	Keys string
	// NewImage and OldImage are nil when the record has none.
	NewImage, OldImage *string
}

// ReadPage reads the JSON body of a GetRecords answer. Each record's items are transcoded
// into the stored form (see Transcoder) as they are met, so no AttributeValue tree is
// built; the rest of the record is what the SDK's decoder would give. The items of all
// records share one string, allocated once. Members ReadPage does not know are skipped,
// as the SDK skips them.
func ReadPage(body string) (Page, error) {
	r := pageReader{t: Transcoder{d: decoder{s: body}}}
	p, err := r.page()
	if err != nil {
		return Page{}, err
	}
	// One string for every item of the page: the offsets recorded while transcoding
	// become substrings of it.
	all := string(r.out)
	for i, o := range r.offs {
		im := &p.Images[i]
		im.Keys = "{}" // as FromStreams encodes a record without keys
		if o.keys[1] > 0 {
			im.Keys = all[o.keys[0]:o.keys[1]]
		}
		if o.newImage[1] > 0 {
			s := all[o.newImage[0]:o.newImage[1]]
			im.NewImage = &s
		}
		if o.oldImage[1] > 0 {
			s := all[o.oldImage[0]:o.oldImage[1]]
			im.OldImage = &s
		}
	}
	return p, nil
}

type pageReader struct {
	t    Transcoder
	out  []byte
	offs []imageOffsets

	// Strings that outlive the body (event ids, sequence numbers) are copied into arena
	// chunks, and their pointers taken from slab chunks, rather than allocated one by one;
	// values most records repeat (region, source, version, event name, view type) are
	// kept once in same (keepSame).
	arena []byte
	slab  []string
	same  map[string]*string
}

// object names an object ReadPage reads, for its errors: the messages are built once,
// not for every member.
type object struct{ what, open, name string }

func newObject(what string) object {
	return object{what: what, open: "'{' opening " + what, name: "member name of " + what}
}

var (
	answerObject       = newObject("the GetRecords answer")
	recordObject       = newObject("a record")
	identityObject     = newObject("userIdentity")
	streamRecordObject = newObject("a stream record")
)

// imageOffsets are [start, end) offsets into pageReader.out; end 0 means absent.
type imageOffsets struct {
	keys, newImage, oldImage [2]int
}

func (r *pageReader) d() *decoder { return &r.t.d }

// members calls f for each member of the object at the cursor; a null object calls
// nothing.
func (r *pageReader) members(o object, f func(name string) error) error {
	d := r.d()
	if d.null() {
		return nil
	}
	if err := d.expect('{', o.open); err != nil {
		return err
	}
	if d.peek() == '}' {
		d.i++
		return nil
	}
	for {
		name, err := d.str(o.name)
		if err != nil {
			return err
		}
		if err := d.expect(':', "':' after member name"); err != nil {
			return err
		}
		if err := f(name); err != nil {
			return err
		}
		switch d.peek() {
		case ',':
			d.i++
		case '}':
			d.i++
			return nil
		default:
			return d.errorf("found %s, want ',' or '}' in %s", d.describe(), o.what)
		}
	}
}

func (r *pageReader) page() (Page, error) {
	var p Page
	err := r.members(answerObject, func(name string) error {
		switch name {
		case "NextShardIterator":
			return r.setString(&p.NextShardIterator, r.keep)
		case "Records":
			d := r.d()
			if d.null() {
				return nil
			}
			// A repeated member replaces the earlier one, as in the SDK's decoder.
			p.Records, r.offs = nil, r.offs[:0]
			return d.array("Records", func() error {
				rec, err := r.record()
				if err != nil {
					return err
				}
				p.Records = append(p.Records, rec)
				return nil
			})
		}
		return r.d().skip(0)
	})
	if err != nil {
		return Page{}, err
	}
	d := r.d()
	if d.space(); d.i != len(d.s) {
		return Page{}, d.errorf("unexpected data after the GetRecords answer")
	}
	p.Images = make([]Images, len(p.Records))
	return p, nil
}

func (r *pageReader) record() (streamstypes.Record, error) {
	var rec streamstypes.Record
	var o imageOffsets
	r.offs = append(r.offs, o)
	at := len(r.offs) - 1
	err := r.members(recordObject, func(name string) error {
		var err error
		switch name {
		case "awsRegion":
			err = r.setString(&rec.AwsRegion, r.keepSame)
		case "eventID":
			err = r.setString(&rec.EventID, r.keep)
		case "eventName":
			var s *string
			if s, err = r.optString(r.keepSame); s != nil {
				rec.EventName = streamstypes.OperationType(*s)
			}
		case "eventSource":
			err = r.setString(&rec.EventSource, r.keepSame)
		case "eventVersion":
			err = r.setString(&rec.EventVersion, r.keepSame)
		case "userIdentity":
			if r.d().null() {
				return nil
			}
			u := &streamstypes.Identity{}
			rec.UserIdentity = u
			err = r.members(identityObject, func(name string) error {
				var err error
				switch name {
				case "PrincipalId":
					err = r.setString(&u.PrincipalId, r.keep)
				case "Type":
					err = r.setString(&u.Type, r.keep)
				default:
					err = r.d().skip(0)
				}
				return err
			})
		case "dynamodb":
			if r.d().null() {
				return nil
			}
			s := &streamstypes.StreamRecord{}
			rec.Dynamodb = s
			r.offs[at] = imageOffsets{}
			err = r.members(streamRecordObject, func(name string) error {
				return r.streamRecord(s, &r.offs[at], name)
			})
		default:
			err = r.d().skip(0)
		}
		return err
	})
	return rec, err
}

func (r *pageReader) streamRecord(s *streamstypes.StreamRecord, o *imageOffsets, name string) error {
	d := r.d()
	var err error
	switch name {
	case "ApproximateCreationDateTime":
		if d.null() {
			return nil
		}
		var f float64
		if f, err = r.float(); err == nil {
			t := epochSeconds(f)
			s.ApproximateCreationDateTime = &t
		}
	case "SequenceNumber":
		err = r.setString(&s.SequenceNumber, r.keep)
	case "SizeBytes":
		if d.null() {
			return nil
		}
		var n int64
		if n, err = r.int(); err == nil {
			s.SizeBytes = &n
		}
	case "StreamViewType":
		var v *string
		if v, err = r.optString(r.keepSame); v != nil {
			s.StreamViewType = streamstypes.StreamViewType(*v)
		}
	case "Keys":
		err = r.image(&o.keys)
	case "NewImage":
		err = r.image(&o.newImage)
	case "OldImage":
		err = r.image(&o.oldImage)
	default:
		err = d.skip(0)
	}
	return err
}

// image transcodes an item into r.out and sets its offsets; null leaves them as they
// were.
func (r *pageReader) image(offsets *[2]int) error {
	d := r.d()
	if d.null() {
		return nil
	}
	start := len(r.out)
	out, end, err := r.t.Item(r.out, d.s, d.i)
	r.out = out
	// Item restarts the decoder at its offset; keep the cursor where it stopped.
	d.i = end
	if err != nil {
		return err
	}
	*offsets = [2]int{start, len(r.out)}
	return nil
}

// setString sets *dst to the string at the cursor, copied by keep (pageReader.keep, or
// keepSame for a value most records repeat); null leaves it as it was (as the SDK's
// decoder does: a member written null is a member not written).
func (r *pageReader) setString(dst **string, keep func(string) *string) error {
	s, err := r.optString(keep)
	if s != nil {
		*dst = s
	}
	return err
}

// optString is the string at the cursor copied by keep, or nil for null.
func (r *pageReader) optString(keep func(string) *string) (*string, error) {
	d := r.d()
	if d.null() {
		return nil, nil
	}
	s, err := d.str("a string")
	if err != nil {
		return nil, err
	}
	return keep(s), nil
}

// keepSame is keep for a value most records repeat: each value is copied once a page, and
// its records share it (the SDK gives each its own copy; nothing writes through these
// pointers).
func (r *pageReader) keepSame(s string) *string {
	if p, ok := r.same[s]; ok {
		return p
	}
	if r.same == nil {
		r.same = map[string]*string{}
	}
	p := r.keep(s)
	r.same[*p] = p
	return p
}

// Sizes of the chunks keep copies strings into.
const (
	arenaChunk = 16 << 10
	slabChunk  = 256
)

// keep returns a pointer to a copy of s that does not hold on to the answer's body (which
// is dropped once the page is read). Copies are appended to an arena chunk and never
// written again, so the strings made from them stay as they were; a full chunk is
// replaced, not grown, and the strings in it keep it alive.
func (r *pageReader) keep(s string) *string {
	if len(s) > cap(r.arena)-len(r.arena) {
		r.arena = make([]byte, 0, max(arenaChunk, len(s)))
	}
	start := len(r.arena)
	r.arena = append(r.arena, s...)
	if len(r.slab) == cap(r.slab) {
		r.slab = make([]string, 0, slabChunk)
	}
	var c string
	if len(s) > 0 {
		c = unsafe.String(&r.arena[start], len(s))
	}
	r.slab = append(r.slab, c)
	return &r.slab[len(r.slab)-1]
}

// epochSeconds is smithy-go's ParseEpochSeconds without its big.Float: that multiplies by
// 1000 at 53 bits of precision, rounding to nearest even, and truncates toward zero,
// which is what float64 arithmetic does; the results are the same for every finite
// input (TestEpochSeconds_SameAsSmithy).
func epochSeconds(v float64) time.Time {
	ms := v * 1e3
	var i int64
	switch {
	case ms >= math.MaxInt64: // 2^63, as a float64
		i = math.MaxInt64
	case ms <= math.MinInt64:
		i = math.MinInt64
	default:
		i = int64(ms) // truncates toward zero
	}
	return time.Unix(0, i*1e6).UTC()
}

func (r *pageReader) float() (float64, error) {
	d := r.d()
	lit := d.numberLiteral()
	f, err := strconv.ParseFloat(lit, 64)
	if err != nil || !jsonNumber(lit) {
		return 0, d.errorf("invalid number %q", lit)
	}
	return f, nil
}

func (r *pageReader) int() (int64, error) {
	d := r.d()
	lit := d.numberLiteral()
	n, err := strconv.ParseInt(lit, 10, 64)
	if err != nil || !jsonNumber(lit) {
		return 0, d.errorf("invalid integer %q", lit)
	}
	return n, nil
}

// null consumes a JSON null at the cursor and reports whether there was one.
func (d *decoder) null() bool {
	d.space()
	if len(d.s)-d.i >= 4 && d.s[d.i:d.i+4] == "null" {
		d.i += 4
		return true
	}
	return false
}

// numberLiteral consumes the characters of a JSON number at the cursor.
func (d *decoder) numberLiteral() string {
	d.space()
	start := d.i
	for d.i < len(d.s) && isNumberByte(d.s[d.i]) {
		d.i++
	}
	return d.s[start:d.i]
}

// skip consumes one JSON value of any kind.
func (d *decoder) skip(depth int) error {
	if depth > MaxDepth {
		return d.errorf("nesting deeper than %d levels", MaxDepth)
	}
	switch d.peek() {
	case '"':
		_, err := d.str("a string")
		return err
	case '{':
		d.i++
		if d.peek() == '}' {
			d.i++
			return nil
		}
		for {
			if _, err := d.str("a member name"); err != nil {
				return err
			}
			if err := d.expect(':', "':' after member name"); err != nil {
				return err
			}
			if err := d.skip(depth + 1); err != nil {
				return err
			}
			switch d.peek() {
			case ',':
				d.i++
			case '}':
				d.i++
				return nil
			default:
				return d.errorf("found %s, want ',' or '}' in object", d.describe())
			}
		}
	case '[':
		return d.array("a", func() error { return d.skip(depth + 1) })
	case 't', 'f':
		_, err := d.boolean()
		return err
	case 'n':
		if d.null() {
			return nil
		}
	default:
		if lit := d.numberLiteral(); lit != "" {
			if jsonNumber(lit) {
				return nil
			}
			return d.errorf("invalid number %q", lit)
		}
	}
	return d.errorf("found %s, want a JSON value", d.describe())
}

func isNumberByte(c byte) bool {
	return c >= '0' && c <= '9' || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E'
}

// jsonNumber reports whether s is a number as JSON writes them:
// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func jsonNumber(s string) bool {
	i := 0
	digits := func() int {
		n := 0
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
			n++
		}
		return n
	}
	if i < len(s) && s[i] == '-' {
		i++
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case digits() == 0:
		return false
	}
	if i < len(s) && s[i] == '.' {
		i++
		if digits() == 0 {
			return false
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if digits() == 0 {
			return false
		}
	}
	return i == len(s)
}
