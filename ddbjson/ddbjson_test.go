package ddbjson

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	streamstypes "github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"
)

const n38 = "12345678901234567890123456789012345678"

// everyType is an item using every attribute type, nesting, and the awkward strings.
func everyType() map[string]ddbtypes.AttributeValue {
	return map[string]ddbtypes.AttributeValue{
		"pk":     &ddbtypes.AttributeValueMemberS{Value: "user#1"},
		"empty":  &ddbtypes.AttributeValueMemberS{Value: ""},
		"uni":    &ddbtypes.AttributeValueMemberS{Value: "héllo wörld ✓ 🦆 \u2028"},
		"ctl":    &ddbtypes.AttributeValueMemberS{Value: "q\"b\\s/n\nr\rt\tz\x00\x1f<&>"},
		"n":      &ddbtypes.AttributeValueMemberN{Value: "1.5"},
		"big":    &ddbtypes.AttributeValueMemberN{Value: "-" + n38},
		"tiny":   &ddbtypes.AttributeValueMemberN{Value: "1E-130"},
		"bin":    &ddbtypes.AttributeValueMemberB{Value: []byte{0, 1, 2, 0xfe, 0xff}},
		"nobin":  &ddbtypes.AttributeValueMemberB{Value: []byte{}},
		"t":      &ddbtypes.AttributeValueMemberBOOL{Value: true},
		"f":      &ddbtypes.AttributeValueMemberBOOL{Value: false},
		"null":   &ddbtypes.AttributeValueMemberNULL{Value: true},
		"ss":     &ddbtypes.AttributeValueMemberSS{Value: []string{"b", "a", ""}},
		"ns":     &ddbtypes.AttributeValueMemberNS{Value: []string{"3", "1.25", n38}},
		"bs":     &ddbtypes.AttributeValueMemberBS{Value: [][]byte{{9}, {}, {1, 2}}},
		"list":   &ddbtypes.AttributeValueMemberL{Value: []ddbtypes.AttributeValue{}},
		"emptym": &ddbtypes.AttributeValueMemberM{Value: map[string]ddbtypes.AttributeValue{}},
		"":       &ddbtypes.AttributeValueMemberS{Value: "empty name"},
		"ключ":   &ddbtypes.AttributeValueMemberS{Value: "unicode name"},
		"nested": &ddbtypes.AttributeValueMemberM{Value: map[string]ddbtypes.AttributeValue{
			"z": &ddbtypes.AttributeValueMemberL{Value: []ddbtypes.AttributeValue{
				&ddbtypes.AttributeValueMemberN{Value: "0"},
				&ddbtypes.AttributeValueMemberM{Value: map[string]ddbtypes.AttributeValue{
					"b": &ddbtypes.AttributeValueMemberSS{Value: []string{"x"}},
					"a": &ddbtypes.AttributeValueMemberL{Value: []ddbtypes.AttributeValue{
						&ddbtypes.AttributeValueMemberNULL{Value: true},
						&ddbtypes.AttributeValueMemberL{Value: []ddbtypes.AttributeValue{&ddbtypes.AttributeValueMemberBOOL{}}},
					}},
				}},
			}},
			"a": &ddbtypes.AttributeValueMemberB{Value: []byte("deep")},
		}},
	}
}

func TestFromDynamoDB_RoundTripsEveryType(t *testing.T) {
	in := everyType()
	s, err := FromDynamoDB(in)
	if err != nil {
		t.Fatal(err)
	}
	out, err := ToDynamoDB(s)
	if err != nil {
		t.Fatalf("decode %s: %v", s, err)
	}
	if !reflect.DeepEqual(in, out) {
		t.Fatalf("round trip differs\nin:  %#v\nout: %#v", in, out)
	}
	again, err := FromDynamoDB(out)
	if err != nil {
		t.Fatal(err)
	}
	if again != s {
		t.Fatalf("re-encoding differs:\n%s\n%s", s, again)
	}
	if !json.Valid([]byte(s)) {
		t.Fatalf("output is not valid JSON: %s", s)
	}
}

func TestFromStreams_EncodesEachTypeInWireForm(t *testing.T) {
	tests := []struct {
		name string
		v    streamstypes.AttributeValue
		want string
	}{
		{"S", &streamstypes.AttributeValueMemberS{Value: "a"}, `{"S":"a"}`},
		{"empty S", &streamstypes.AttributeValueMemberS{}, `{"S":""}`},
		{"S escapes", &streamstypes.AttributeValueMemberS{Value: "\"\\\n\x01é<"}, `{"S":"\"\\\n\u0001é<"}`},
		{"N 38 digits", &streamstypes.AttributeValueMemberN{Value: n38}, `{"N":"` + n38 + `"}`},
		{"N kept verbatim", &streamstypes.AttributeValueMemberN{Value: "1.50E+3"}, `{"N":"1.50E+3"}`},
		{"B", &streamstypes.AttributeValueMemberB{Value: []byte("hi?")}, `{"B":"aGk/"}`},
		{"nil B", &streamstypes.AttributeValueMemberB{}, `{"B":""}`},
		{"BOOL true", &streamstypes.AttributeValueMemberBOOL{Value: true}, `{"BOOL":true}`},
		{"BOOL false", &streamstypes.AttributeValueMemberBOOL{}, `{"BOOL":false}`},
		{"NULL", &streamstypes.AttributeValueMemberNULL{Value: true}, `{"NULL":true}`},
		{"SS keeps order", &streamstypes.AttributeValueMemberSS{Value: []string{"b", "a"}}, `{"SS":["b","a"]}`},
		{"NS", &streamstypes.AttributeValueMemberNS{Value: []string{"2", "-1.5"}}, `{"NS":["2","-1.5"]}`},
		{"BS", &streamstypes.AttributeValueMemberBS{Value: [][]byte{{0xff}, {}}}, `{"BS":["/w==",""]}`},
		{"L", &streamstypes.AttributeValueMemberL{Value: []streamstypes.AttributeValue{
			&streamstypes.AttributeValueMemberS{Value: "x"}, &streamstypes.AttributeValueMemberNULL{Value: true},
		}}, `{"L":[{"S":"x"},{"NULL":true}]}`},
		{"empty L", &streamstypes.AttributeValueMemberL{}, `{"L":[]}`},
		{"M sorted", &streamstypes.AttributeValueMemberM{Value: map[string]streamstypes.AttributeValue{
			"b": &streamstypes.AttributeValueMemberN{Value: "1"},
			"a": &streamstypes.AttributeValueMemberM{Value: map[string]streamstypes.AttributeValue{
				"y": &streamstypes.AttributeValueMemberS{Value: "y"},
				"x": &streamstypes.AttributeValueMemberS{Value: "x"},
			}},
		}}, `{"M":{"a":{"M":{"x":{"S":"x"},"y":{"S":"y"}}},"b":{"N":"1"}}}`},
		{"empty M", &streamstypes.AttributeValueMemberM{}, `{"M":{}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := FromStreams(map[string]streamstypes.AttributeValue{"k": tt.v})
			if err != nil {
				t.Fatal(err)
			}
			if want := `{"k":` + tt.want + `}`; got != want {
				t.Fatalf("got  %s\nwant %s", got, want)
			}
		})
	}
}

func TestFromStreams_MatchesFromDynamoDBForTheSameItem(t *testing.T) {
	ddb := everyType()
	want, err := FromDynamoDB(ddb)
	if err != nil {
		t.Fatal(err)
	}
	got, err := FromStreams(toStreams(ddb))
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Fatalf("streams and dynamodb encodings differ:\n%s\n%s", got, want)
	}
}

func TestFromStreams_SortsNamesBytewise(t *testing.T) {
	item := map[string]streamstypes.AttributeValue{}
	for _, k := range []string{"b", "a", "B", "é", "aa", "_", "1", ""} {
		item[k] = &streamstypes.AttributeValueMemberNULL{Value: true}
	}
	got, err := FromStreams(item)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"":{"NULL":true},"1":{"NULL":true},"B":{"NULL":true},"_":{"NULL":true},"a":{"NULL":true},"aa":{"NULL":true},"b":{"NULL":true},"é":{"NULL":true}}`
	if got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	for range 50 { // map iteration order varies between runs; the output must not
		again, _ := FromStreams(item)
		if again != got {
			t.Fatalf("output not deterministic: %s vs %s", again, got)
		}
	}
}

func TestFromStreams_NilItemIsEmptyObject(t *testing.T) {
	got, err := FromStreams(nil)
	if err != nil || got != "{}" {
		t.Fatalf("got %q, %v; want {}", got, err)
	}
}

func TestFromStreams_StringsDecodeLikeEncodingJSON(t *testing.T) {
	for _, s := range []string{"", "plain", "\x00\x01\x1f\x7f", `"\/`, "\u2028\u2029", "日本語", "🦆", "\t\n\r\b\f"} {
		out, err := FromStreams(map[string]streamstypes.AttributeValue{"k": &streamstypes.AttributeValueMemberS{Value: s}})
		if err != nil {
			t.Fatal(err)
		}
		var v struct{ K struct{ S string } }
		if err := json.Unmarshal([]byte(out), &v); err != nil {
			t.Fatalf("%q encoded as invalid JSON %s: %v", s, out, err)
		}
		if v.K.S != s {
			t.Fatalf("encoding/json reads %q back as %q", s, v.K.S)
		}
	}
}

func TestFromStreams_RejectsUnencodableValues(t *testing.T) {
	tests := []struct {
		name string
		item map[string]streamstypes.AttributeValue
		want string
	}{
		{"nil value", map[string]streamstypes.AttributeValue{"a": nil}, `attribute "a": nil attribute value`},
		{"unknown member", map[string]streamstypes.AttributeValue{"a": &streamstypes.UnknownUnionMember{Tag: "X"}}, `unknown attribute type "X"`},
		{"invalid UTF-8 value", map[string]streamstypes.AttributeValue{"a": &streamstypes.AttributeValueMemberS{Value: "\xff"}}, "not valid UTF-8"},
		{"invalid UTF-8 name", map[string]streamstypes.AttributeValue{"\xff": &streamstypes.AttributeValueMemberNULL{Value: true}}, "attribute name"},
		{"nested nil", map[string]streamstypes.AttributeValue{"a": &streamstypes.AttributeValueMemberL{Value: []streamstypes.AttributeValue{nil}}}, "list element 0: nil attribute value"},
		{"invalid UTF-8 in set", map[string]streamstypes.AttributeValue{"a": &streamstypes.AttributeValueMemberSS{Value: []string{"ok", "\xc3"}}}, "set element 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := FromStreams(tt.item)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestFromDynamoDB_RejectsNilValue(t *testing.T) {
	_, err := FromDynamoDB(map[string]ddbtypes.AttributeValue{"a": &ddbtypes.AttributeValueMemberM{Value: map[string]ddbtypes.AttributeValue{"b": nil}}})
	if err == nil || !strings.Contains(err.Error(), `attribute "a": attribute "b": nil attribute value`) {
		t.Fatalf("got %v", err)
	}
}

// toStreams converts an item between the two SDK packages' identical shapes.
func toStreams(m map[string]ddbtypes.AttributeValue) map[string]streamstypes.AttributeValue {
	out := make(map[string]streamstypes.AttributeValue, len(m))
	for k, v := range m {
		out[k] = toStreamsValue(v)
	}
	return out
}

func toStreamsValue(v ddbtypes.AttributeValue) streamstypes.AttributeValue {
	switch v := v.(type) {
	case *ddbtypes.AttributeValueMemberS:
		return &streamstypes.AttributeValueMemberS{Value: v.Value}
	case *ddbtypes.AttributeValueMemberN:
		return &streamstypes.AttributeValueMemberN{Value: v.Value}
	case *ddbtypes.AttributeValueMemberB:
		return &streamstypes.AttributeValueMemberB{Value: v.Value}
	case *ddbtypes.AttributeValueMemberBOOL:
		return &streamstypes.AttributeValueMemberBOOL{Value: v.Value}
	case *ddbtypes.AttributeValueMemberNULL:
		return &streamstypes.AttributeValueMemberNULL{Value: v.Value}
	case *ddbtypes.AttributeValueMemberSS:
		return &streamstypes.AttributeValueMemberSS{Value: v.Value}
	case *ddbtypes.AttributeValueMemberNS:
		return &streamstypes.AttributeValueMemberNS{Value: v.Value}
	case *ddbtypes.AttributeValueMemberBS:
		return &streamstypes.AttributeValueMemberBS{Value: v.Value}
	case *ddbtypes.AttributeValueMemberL:
		l := make([]streamstypes.AttributeValue, len(v.Value))
		for i, x := range v.Value {
			l[i] = toStreamsValue(x)
		}
		return &streamstypes.AttributeValueMemberL{Value: l}
	case *ddbtypes.AttributeValueMemberM:
		return &streamstypes.AttributeValueMemberM{Value: toStreams(v.Value)}
	}
	panic("unexpected type in test fixture")
}

func TestToDynamoDB_AcceptsEquivalentJSON(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"whitespace", " {\n \"a\" : { \"S\" : \"x\" } ,\t\"b\":{\"L\":[ {\"N\":\"1\"} , {\"BOOL\": false} ]}}\r\n", `{"a":{"S":"x"},"b":{"L":[{"N":"1"},{"BOOL":false}]}}`},
		{"escapes", `{"a":{"S":"\u00e9\ud83e\udd86\/\b\f\"\\"}}`, `{"a":{"S":"é🦆/\u0008\u000c\"\\"}}`},
		{"escaped name", `{"\u0061":{"NULL":true}}`, `{"a":{"NULL":true}}`},
		{"names in any order", `{"b":{"N":"2"},"a":{"N":"1"}}`, `{"a":{"N":"1"},"b":{"N":"2"}}`},
		{"empty item", `{}`, `{}`},
		{"number forms", `{"a":{"NS":["+1","-.5","5.","1e10","1E-5","0012"]}}`, `{"a":{"NS":["+1","-.5","5.","1e10","1E-5","0012"]}}`},
		{"empty sets", `{"a":{"SS":[]},"b":{"NS":[]},"c":{"BS":[]}}`, `{"a":{"SS":[]},"b":{"NS":[]},"c":{"BS":[]}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := ToDynamoDB(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			got, err := FromDynamoDB(m)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Fatalf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestToDynamoDB_RejectsMalformedInput(t *testing.T) {
	deep := strings.Repeat(`{"L":[`, MaxDepth+1) + strings.Repeat(`]}`, MaxDepth+1)
	tests := []struct {
		name, in, want string
	}{
		{"empty input", ``, "unexpected end of input"},
		{"not an object", `[]`, "found an array, want '{'"},
		{"unknown tag", `{"a":{"X":"1"}}`, `unknown type tag "X"`},
		{"lowercase tag", `{"a":{"s":"1"}}`, `unknown type tag "s"`},
		{"no tag", `{"a":{}}`, "no type tag"},
		{"two tags", `{"a":{"S":"x","N":"1"}}`, "more than one type tag"},
		{"same tag twice", `{"a":{"S":"x","S":"y"}}`, "more than one type tag"},
		{"duplicate name", `{"a":{"S":"x"},"a":{"S":"y"}}`, `duplicate attribute name "a"`},
		{"bare value", `{"a":"x"}`, "found a string, want '{' opening an attribute value"},
		{"S not string", `{"a":{"S":1}}`, "want S value"},
		{"N as JSON number", `{"a":{"N":1.5}}`, "found a JSON number, want N value"},
		{"N not a number", `{"a":{"N":"1.2.3"}}`, `"1.2.3" is not a number`},
		{"N empty", `{"a":{"N":""}}`, `"" is not a number`},
		{"N with space", `{"a":{"N":" 1"}}`, "is not a number"},
		{"N bare exponent", `{"a":{"N":"1e"}}`, "is not a number"},
		{"N NaN", `{"a":{"N":"NaN"}}`, "is not a number"},
		{"N 39 digits", `{"a":{"N":"1` + n38 + `"}}`, "has 39 significant digits"},
		{"N too large", `{"a":{"N":"1E+126"}}`, "outside DynamoDB's number range"},
		{"N huge exponent", `{"a":{"N":"1e99999999999999999999"}}`, "outside DynamoDB's number range"},
		{"NS element not a number", `{"a":{"NS":["1","x"]}}`, `"x" is not a number`},
		{"bad base64", `{"a":{"B":"!!"}}`, "invalid base64"},
		{"base64 without padding", `{"a":{"B":"YQ"}}`, "invalid base64"},
		{"base64 non-zero padding bits", `{"a":{"B":"YR=="}}`, "invalid base64"},
		{"bad base64 in set", `{"a":{"BS":["YQ==","*"]}}`, "invalid base64"},
		{"NULL false", `{"a":{"NULL":false}}`, "NULL must be true"},
		{"BOOL string", `{"a":{"BOOL":"true"}}`, "want true or false"},
		{"BOOL truncated", `{"a":{"BOOL":tru}}`, "want true or false"},
		{"SS not array", `{"a":{"SS":"x"}}`, "'[' opening the SS array"},
		{"SS element not string", `{"a":{"SS":[1]}}`, "SS element"},
		{"L element bare", `{"a":{"L":["x"]}}`, "list element 0"},
		{"M not object", `{"a":{"M":[]}}`, "'{' opening an item"},
		{"trailing data", `{"a":{"S":"x"}}x`, "unexpected data after the item"},
		{"two items", `{} {}`, "unexpected data after the item"},
		{"trailing comma", `{"a":{"S":"x"},}`, "want attribute name"},
		{"missing colon", `{"a" {"S":"x"}}`, "':' after attribute name"},
		{"unterminated string", `{"a":{"S":"x`, "unterminated string"},
		{"unterminated item", `{"a":{"S":"x"}`, "want ',' or '}' in item"},
		{"control char", "{\"a\":{\"S\":\"x\ny\"}}", "control character"},
		{"invalid UTF-8", "{\"a\":{\"S\":\"\xff\"}}", "not valid UTF-8"},
		{"bad escape", `{"a":{"S":"\x"}}`, `invalid escape "\\x"`},
		{"short unicode escape", `{"a":{"S":"\u12"}}`, `invalid \u escape`},
		{"lone surrogate", `{"a":{"S":"\ud800"}}`, "lone UTF-16 surrogate"},
		{"reversed surrogates", `{"a":{"S":"\udc00\ud800"}}`, "lone UTF-16 surrogate"},
		{"too deep", `{"a":` + deep + `}`, "nesting deeper than"},
		{"null item", `null`, "found null"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := ToDynamoDB(tt.in)
			if err == nil {
				t.Fatalf("accepted %q as %#v", tt.in, m)
			}
			if !errors.Is(err, ErrSyntax) {
				t.Fatalf("error %v does not wrap ErrSyntax", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %q does not say %q", err, tt.want)
			}
		})
	}
}

func TestToDynamoDB_ErrorNamesTheAttributePath(t *testing.T) {
	_, err := ToDynamoDB(`{"outer":{"M":{"inner":{"L":[{"S":"ok"},{"N":"x"}]}}}}`)
	want := `attribute "outer": attribute "inner": list element 1:`
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("got %v, want it to contain %q", err, want)
	}
}

func TestToDynamoDB_AcceptsNestingUpToMaxDepth(t *testing.T) {
	in := `{"a":` + strings.Repeat(`{"L":[`, MaxDepth) + `{"NULL":true}` + strings.Repeat(`]}`, MaxDepth) + `}`
	if _, err := ToDynamoDB(in); err != nil {
		t.Fatal(err)
	}
}

func TestFromDynamoDB_SortsLargeMapsAndSiblingMaps(t *testing.T) {
	big := map[string]ddbtypes.AttributeValue{}
	for i := 39; i >= 0; i-- {
		big[fmt.Sprintf("k%02d", i)] = &ddbtypes.AttributeValueMemberN{Value: fmt.Sprint(i)}
	}
	item := map[string]ddbtypes.AttributeValue{
		"big": &ddbtypes.AttributeValueMemberM{Value: big},
		"l": &ddbtypes.AttributeValueMemberL{Value: []ddbtypes.AttributeValue{
			&ddbtypes.AttributeValueMemberM{Value: map[string]ddbtypes.AttributeValue{"b": &ddbtypes.AttributeValueMemberNULL{Value: true}, "a": &ddbtypes.AttributeValueMemberNULL{Value: true}}},
			&ddbtypes.AttributeValueMemberM{Value: map[string]ddbtypes.AttributeValue{"d": &ddbtypes.AttributeValueMemberNULL{Value: true}, "c": &ddbtypes.AttributeValueMemberNULL{Value: true}}},
		}},
	}
	got, err := FromDynamoDB(item)
	if err != nil {
		t.Fatal(err)
	}
	var want strings.Builder
	want.WriteString(`{"big":{"M":{`)
	for i := range 40 {
		if i > 0 {
			want.WriteByte(',')
		}
		fmt.Fprintf(&want, `"k%02d":{"N":"%d"}`, i, i)
	}
	want.WriteString(`}},"l":{"L":[{"M":{"a":{"NULL":true},"b":{"NULL":true}}},{"M":{"c":{"NULL":true},"d":{"NULL":true}}}]}}`)
	if got != want.String() {
		t.Fatalf("got  %s\nwant %s", got, want.String())
	}
}
