package replay

import (
	"strings"
	"testing"

	"github.com/ddbtape/ddbtape/ddbjson"
)

// FuzzParseKeys feeds arbitrary --keys files to ParseKeys. It must refuse with one line
// naming the line at fault, or return a filter that keeps exactly the keys it read, in the
// form the merge gives the same keys read from a backup file (numbers normalised).
// Seeds live in testdata/fuzz/FuzzParseKeys.
func FuzzParseKeys(f *testing.F) {
	for _, s := range []string{
		`{"pk":{"S":"a"},"sk":{"N":"1"}}` + "\n" + `{"sk":{"N":"1.0"},"pk":{"S":"a"}}`,
		"\n\n" + `{"pk":{"S":"b"},"sk":{"S":"x"}}` + "\r\n",
		`{"pk":{"S":"a"}}`,
		`{"pk":{"S":"a"},"sk":{"N":"1"},"x":{"S":"y"}}`,
		`{"pk":{"B":"AAE="},"sk":{"N":"-0.0"}}`,
		`not json`,
		`{"pk":{"S":"a"},"sk":{"N":"1e400"}}`,
		strings.Repeat(" ", 70000) + `{"pk":{"S":"a"},"sk":{"N":"1"}}`,
	} {
		f.Add(s)
	}
	keyNames := []string{"pk", "sk"}
	f.Fuzz(func(t *testing.T, s string) {
		kf, err := ParseKeys(strings.NewReader(s), keyNames)
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("multi-line error: %q", err)
			}
			return
		}
		// Every non-blank line is a key the filter keeps, whatever its layout or the
		// spelling of its numbers, once encoded as a backup file stores keys.
		for _, line := range strings.Split(s, "\n") {
			line = strings.TrimSpace(line)
			if line == "" {
				continue
			}
			m, err := ddbjson.ToDynamoDB(line)
			if err != nil {
				t.Fatalf("ParseKeys accepted line %q that does not decode: %v", line, err)
			}
			enc, err := ddbjson.FromDynamoDB(m)
			if err != nil {
				t.Fatal(err)
			}
			k, err := mergeKey(enc)
			if err != nil {
				t.Fatalf("merge key of accepted line %q: %v", line, err)
			}
			if ok, err := kf.Match(k); !ok || err != nil {
				t.Fatalf("filter does not keep key %s of line %q (%v)", k, line, err)
			}
		}
		if kf.Len() == 0 && strings.TrimSpace(s) != "" {
			t.Fatalf("no keys from non-blank input %q", s)
		}
	})
}
