package ddbjson

import (
	"errors"
	"testing"
)

// FuzzCanonical feeds arbitrary text to Canonical, which restore's dry run and verify apply
// to items read back from stored files. It must refuse with ErrSyntax or return a fixed
// point that decodes, and items that differ only in layout (spacing, name order) must get
// the same canonical form. Seeds live in testdata/fuzz/FuzzCanonical.
func FuzzCanonical(f *testing.F) {
	for _, s := range []string{
		`{"pk":{"S":"a"},"n":{"N":"1.50"}}`,
		`{ "n" : { "N" : "+15E-1" } , "pk" : { "S" : "a" } }`,
		`{"ns":{"NS":["1","1.0","-0","0"]},"ss":{"SS":["b","a","b"]},"bs":{"BS":["AQ==","AA==","AQ=="]}}`,
		`{"l":{"L":[{"N":"1e2"},{"M":{"x":{"NS":["100","1E2"]}}}]}}`,
		`{"n":{"N":"9.9999999999999999999999999999999999999E+125"}}`,
		`{"n":{"N":"1E-130"}}`,
		`{"n":{"N":"0.000000000000000000000000000000000000000000000000001"}}`,
		`{"n":{"N":".5"}}`,
		`{"n":{"N":"5."}}`,
		`{"pk":{"S":"a"},"pk":{"S":"b"}}`,
		`{}`,
		`[]`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := Canonical(s)
		if err != nil {
			if !errors.Is(err, ErrSyntax) {
				t.Fatalf("error does not wrap ErrSyntax: %v", err)
			}
			return
		}
		if c2, err := Canonical(c); err != nil || c2 != c {
			t.Fatalf("not a fixed point: %q -> %q (%v)", c, c2, err)
		}
		m, err := ToDynamoDB(s)
		if err != nil {
			t.Fatalf("Canonical accepted %q but ToDynamoDB refuses it: %v", s, err)
		}
		// The compact re-encoding is the same item in another layout.
		enc, err := FromDynamoDB(m)
		if err != nil {
			t.Fatalf("encode %q: %v", s, err)
		}
		if c3, err := Canonical(enc); err != nil || c3 != c {
			t.Fatalf("layout changed the canonical form: %q -> %q, %q -> %q (%v)", s, c, enc, c3, err)
		}
	})
}
