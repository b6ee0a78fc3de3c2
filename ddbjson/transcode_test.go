package ddbjson

import (
	"errors"
	"strings"
	"testing"
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
