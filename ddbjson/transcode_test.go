package ddbjson

import (
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	smithytime "github.com/aws/smithy-go/time"
)

func transcode(s string) (string, error) {
	var t Transcoder
	out, end, err := t.Item(nil, s, 0)
	if err != nil {
		return "", err
	}
	d := decoder{s: s, i: end}
	if d.space(); d.i != len(s) {
		return "", d.errorf("unexpected data after the item")
	}
	return string(out), nil
}

// FuzzTranscode checks that the transcoder never panics and gives, for every item the
// strict decoder accepts, the same stored form as decoding and encoding it. Seeds live in
// testdata/fuzz/FuzzTranscode (a copy of FuzzToDynamoDB's).
func FuzzTranscode(f *testing.F) {
	f.Add(`{"pk":{"S":"a"},"n":{"N":"1.5"},"m":{"M":{"z":{"L":[{"B":"AQI="},{"NULL":true}]},"a":{"SS":["x","\u00e9"]}}}}`)
	f.Fuzz(func(t *testing.T, s string) {
		got, err := transcode(s)
		if err != nil && !errors.Is(err, ErrSyntax) {
			t.Fatalf("error does not wrap ErrSyntax: %v", err)
		}
		m, derr := ToDynamoDB(s)
		if derr != nil {
			return
		}
		if err != nil {
			t.Fatalf("transcoder refused %q, which the decoder accepts: %v", s, err)
		}
		want, err := FromDynamoDB(m)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Fatalf("transcoded %q\n got %s\nwant %s", s, got, want)
		}
	})
}

func TestTranscoder_Refuses(t *testing.T) {
	for _, s := range []string{
		`{"a":{"S":"x"},"a":{"N":"1"}}`,
		`{"a":{"S":"x","N":"1"}}`,
		`{"a":{}}`,
		`{"a":{"X":"1"}}`,
		`{"a":{"B":"%%%"}}`,
		`{"a":{"S":"\ud800"}}`,
		`{"a":{"S":"` + "\x01" + `"}}`,
		`{"a":{"S":"x"}`,
		`{"a":` + strings.Repeat(`{"M":{"a":`, MaxDepth+1) + `{"S":"x"}` + strings.Repeat(`}}`, MaxDepth+1) + `}`,
	} {
		if got, err := transcode(s); err == nil {
			t.Errorf("transcoded %q into %q, want an error", s, got)
		}
	}
}

// The stored form is the same whatever the wire's attribute order, whitespace and
// escapes; binary is re-encoded and NULL written as FromStreams writes it.
func TestTranscoder_StoredForm(t *testing.T) {
	for in, want := range map[string]string{
		`{ "b" : {"N":"2"} , "a":{"S":"\u00e9\/\t"} }`:               `{"a":{"S":"é/\t"},"b":{"N":"2"}}`,
		`{"k":{"M":{"z":{"BOOL":false},"y":{"NS":["1","2"]}}}}`:      `{"k":{"M":{"y":{"NS":["1","2"]},"z":{"BOOL":false}}}}`,
		`{"k":{"B":"AQ\r\nI="},"n":{"NULL":false}}`:                  `{"k":{"B":"AQI="},"n":{"NULL":true}}`,
		`{"k":{"L":[{"M":{"b":{"S":""},"a":{"BS":[]}}},{"SS":[]}]}}`: `{"k":{"L":[{"M":{"a":{"BS":[]},"b":{"S":""}}},{"SS":[]}]}}`,
		`{}`: `{}`,
	} {
		got, err := transcode(in)
		if err != nil || got != want {
			t.Errorf("transcode(%s) = %s, %v; want %s", in, got, err, want)
		}
	}
}

// epochSeconds must give ParseEpochSeconds' time for every finite number: whole and
// fractional seconds, values whose product by 1000 rounds to a whole number, negative
// ones, and the ends of the range.
func TestEpochSeconds_SameAsSmithy(t *testing.T) {
	vals := []float64{0, 1, -1, 1.715942537e9, 1715942537.123, 1715942537.9999999, -0.0005, 0.0015,
		0.1, 0.7, 1.001, 4.35, 9.2233720368547758e15, 9.3e15, -9.3e15, 1e300, -1e300, math.MaxFloat64,
		-math.MaxFloat64, math.SmallestNonzeroFloat64, -math.SmallestNonzeroFloat64, 5e-324, 9.223372036854775e15}
	rng := rand.New(rand.NewPCG(7, 11))
	for range 200_000 {
		switch rng.IntN(3) {
		case 0: // epoch seconds to the millisecond or finer
			vals = append(vals, float64(rng.Int64N(4e9))+float64(rng.IntN(1e6))/1e6)
		case 1: // any bit pattern
			if v := math.Float64frombits(rng.Uint64()); !math.IsNaN(v) && !math.IsInf(v, 0) {
				vals = append(vals, v)
			}
		default: // near the product's whole numbers
			vals = append(vals, math.Nextafter(float64(rng.Int64N(4e12))/1e3, math.Inf(rng.IntN(2)*2-1)))
		}
	}
	for _, v := range vals {
		if got, want := epochSeconds(v), smithytime.ParseEpochSeconds(v); !got.Equal(want) || got.Location() != want.Location() {
			t.Fatalf("epochSeconds(%v) = %v, ParseEpochSeconds gives %v", v, got, want)
		}
	}
}
