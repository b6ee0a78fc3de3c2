package ddbjson

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"
)

// FuzzToDynamoDB checks that the decoder never panics, accepts only valid JSON, and that
// whatever it accepts survives an encode/decode round trip and canonicalises stably.
// Seeds live in testdata/fuzz/FuzzToDynamoDB.
func FuzzToDynamoDB(f *testing.F) {
	f.Add(`{"pk":{"S":"a"},"n":{"N":"1.5"}}`)
	f.Fuzz(func(t *testing.T, s string) {
		m, err := ToDynamoDB(s)
		if err != nil {
			if !errors.Is(err, ErrSyntax) {
				t.Fatalf("error does not wrap ErrSyntax: %v", err)
			}
			return
		}
		if !json.Valid([]byte(s)) {
			t.Fatalf("accepted invalid JSON %q", s)
		}
		enc, err := FromDynamoDB(m)
		if err != nil {
			t.Fatalf("cannot encode what was decoded from %q: %v", s, err)
		}
		m2, err := ToDynamoDB(enc)
		if err != nil {
			t.Fatalf("cannot decode own output %q: %v", enc, err)
		}
		if !reflect.DeepEqual(m, m2) {
			t.Fatalf("round trip of %q changed the item: %#v vs %#v", s, m, m2)
		}
		if enc2, _ := FromDynamoDB(m2); enc2 != enc {
			t.Fatalf("encoding not stable: %q vs %q", enc, enc2)
		}
		c, err := Canonical(enc)
		if err != nil {
			t.Fatalf("canonical of %q: %v", enc, err)
		}
		if c2, err := Canonical(c); err != nil || c2 != c {
			t.Fatalf("canonical form not a fixed point: %q -> %q (%v)", c, c2, err)
		}
	})
}
