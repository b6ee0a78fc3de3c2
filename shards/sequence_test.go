package shards

import "testing"

func TestSequenceNumber_KeyPadsToFortyDigits(t *testing.T) {
	tests := []struct{ in, want string }{
		{"1", "0000000000000000000000000000000000000001"},
		{"49668042234256451993264562425402138713510416052279345154", "49668042234256451993264562425402138713510416052279345154"},
		{"1234567890123456789012345678901234567890", "1234567890123456789012345678901234567890"},
		{"", "0000000000000000000000000000000000000000"},
	}
	for _, tt := range tests {
		if got := SequenceNumber(tt.in).Key(); got != tt.want {
			t.Errorf("SequenceNumber(%q).Key() = %q, want %q", tt.in, got, tt.want)
		}
		if got := string(SequenceNumber(tt.in).AppendKey([]byte("x"))); got != "x"+tt.want {
			t.Errorf("AppendKey(%q) = %q, want x%s", tt.in, got, tt.want)
		}
	}
	if SequenceNumber("99").Key() >= SequenceNumber("100").Key() {
		t.Fatal("padded keys do not sort numerically")
	}
}

func TestSequenceNumber_ComparesNumerically(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"1", "2", -1},
		{"10", "9", 1},
		{"0010", "9", 1},
		{"5", "005", 0},
		{"100000000000000000000000000000000000000000", "99999999999999999999999999999999999999999", 1},
		{"49999", "50000", -1},
		{"", "0", 0},
		{"", "1", -1},
	}
	for _, tt := range tests {
		if got := SequenceNumber(tt.a).Compare(SequenceNumber(tt.b)); got != tt.want {
			t.Errorf("Compare(%s, %s) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestSequenceNumber_ValidIsDecimalDigits(t *testing.T) {
	for s, want := range map[string]bool{"1": true, "000123": true, "": false, "12a": false, "-1": false, " 1": false} {
		if got := SequenceNumber(s).Valid(); got != want {
			t.Errorf("SequenceNumber(%q).Valid() = %v, want %v", s, got, want)
		}
	}
}
