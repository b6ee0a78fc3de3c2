package ddbjson

import (
	"errors"
	"testing"
)

func TestCanonical_ItemsDynamoDBConsidersEqualCompareEqual(t *testing.T) {
	tests := []struct {
		name, a, b string
	}{
		{"string set order", `{"s":{"SS":["b","a","c"]}}`, `{"s":{"SS":["c","b","a"]}}`},
		{"number set order and form", `{"s":{"NS":["10","1.50","-2"]}}`, `{"s":{"NS":["-2.0","1.5","1e1"]}}`},
		{"binary set order", `{"s":{"BS":["AQ==","AA==","/w=="]}}`, `{"s":{"BS":["/w==","AQ==","AA=="]}}`},
		{"number forms", `{"n":{"N":"1.50"}}`, `{"n":{"N":"+15E-1"}}`},
		{"zero", `{"n":{"N":"-0.000"}}`, `{"n":{"N":"0e5"}}`},
		{"sets inside lists and maps", `{"m":{"M":{"l":{"L":[{"SS":["y","x"]}]}}}}`, `{"m":{"M":{"l":{"L":[{"SS":["x","y"]}]}}}}`},
		{"name order and whitespace", `{"b":{"N":"1"}, "a":{"S":"x"}}`, `{"a":{"S":"x"},"b":{"N":"1"}}`},
		{"escapes", `{"a":{"S":"\u00e9"}}`, `{"a":{"S":"é"}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ca, err := Canonical(tt.a)
			if err != nil {
				t.Fatal(err)
			}
			cb, err := Canonical(tt.b)
			if err != nil {
				t.Fatal(err)
			}
			if ca != cb {
				t.Fatalf("canonical forms differ:\n%s\n%s", ca, cb)
			}
		})
	}
}

func TestCanonical_DifferentItemsStayDifferent(t *testing.T) {
	tests := []struct {
		name, a, b string
	}{
		{"list order matters", `{"l":{"L":[{"N":"1"},{"N":"2"}]}}`, `{"l":{"L":[{"N":"2"},{"N":"1"}]}}`},
		{"S is not N", `{"a":{"S":"1"}}`, `{"a":{"N":"1"}}`},
		{"SS is not L", `{"a":{"SS":["x"]}}`, `{"a":{"L":[{"S":"x"}]}}`},
		{"different numbers", `{"a":{"N":"1.5"}}`, `{"a":{"N":"1.05"}}`},
		{"38th digit", `{"a":{"N":"` + n38 + `"}}`, `{"a":{"N":"12345678901234567890123456789012345679"}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ca, err := Canonical(tt.a)
			if err != nil {
				t.Fatal(err)
			}
			cb, err := Canonical(tt.b)
			if err != nil {
				t.Fatal(err)
			}
			if ca == cb {
				t.Fatalf("different items share canonical form %s", ca)
			}
		})
	}
}

func TestCanonical_SortsAndDeduplicatesSets(t *testing.T) {
	got, err := Canonical(`{"n":{"NS":["3","1","1.0","2"]},"s":{"SS":["b","a","b"]},"b":{"BS":["Ag==","AQ=="]}}`)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"b":{"BS":["AQ==","Ag=="]},"n":{"NS":["1","2","3"]},"s":{"SS":["a","b"]}}`
	if got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}

func TestCanonical_RejectsInvalidInput(t *testing.T) {
	if _, err := Canonical(`{"a":{"N":"x"}}`); !errors.Is(err, ErrSyntax) {
		t.Fatalf("got %v, want ErrSyntax", err)
	}
}

func TestNormalNumber(t *testing.T) {
	tests := []struct{ in, want string }{
		{"0", "0"},
		{"-0", "0"},
		{"000.000", "0"},
		{"1", "1"},
		{"+1", "1"},
		{"1.0", "1"},
		{"1.50", "1.5"},
		{"-1.50", "-1.5"},
		{".5", "0.5"},
		{"5.", "5"},
		{"0012.3400", "12.34"},
		{"100", "100"},
		{"1e2", "100"},
		{"1E+2", "100"},
		{"15E-1", "1.5"},
		{"0.001", "0.001"},
		{"1e-3", "0.001"},
		{n38, n38},
		{"-" + n38, "-" + n38},
		{"1e39", "1000000000000000000000000000000000000000"},
		{"1e40", "1E+40"},
		{"1.5e125", "1.5E+125"},
		{"1E-130", "1E-130"},
		{"-9.99e-50", "-9.99E-50"},
		{"x", "x"}, // not a number: left alone
	}
	for _, tt := range tests {
		if got := normalNumber(tt.in); got != tt.want {
			t.Errorf("normalNumber(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestCheckNumber_EnforcesDynamoDBSyntaxAndLimits(t *testing.T) {
	tests := []struct {
		in string
		ok bool
	}{
		{"0", true}, {"-1", true}, {"+1", true}, {".5", true}, {"5.", true}, {"1e5", true}, {"1E-5", true},
		{n38, true}, {n38 + "000", true}, {"0.000" + n38, true}, {"1" + n38, false}, {"1." + n38, false},
		{"1E-130", true}, {"1E-131", false}, {"0.1E-129", true}, {"9.9E+125", true}, {"1E+126", false},
		{"10E+125", false}, {"0E+999999", true}, {"1e99999999999999999999999", false}, {"1e-99999999999999999999", false},
		{"", false}, {"+", false}, {"-", false}, {".", false}, {"1.2.3", false}, {"1e", false}, {"1e+", false},
		{"e5", false}, {"1 ", false}, {" 1", false}, {"0x10", false}, {"1_000", false}, {"++1", false}, {"١", false},
		{"NaN", false}, {"Infinity", false},
	}
	for _, tt := range tests {
		if msg := checkNumber(tt.in); (msg == "") != tt.ok {
			t.Errorf("checkNumber(%q) = %q, want ok=%v", tt.in, msg, tt.ok)
		}
	}
}
