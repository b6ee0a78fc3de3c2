package shards

import "strings"

// SequenceNumber is a record's position in its shard as DynamoDB Streams gives it: a
// decimal number of up to 40 digits (21 or more in practice), ordered numerically within
// a shard's lineage. The empty SequenceNumber is no position: before the first record.
type SequenceNumber string

// SequenceKeyWidth is the width Key pads sequence numbers to, so that they sort as text.
const SequenceKeyWidth = 40

// Valid reports whether s has the only form DynamoDB Streams gives: decimal digits, at
// least one. Anything else cannot be ordered.
func (s SequenceNumber) Valid() bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// Compare orders two sequence numbers numerically, whatever their length and leading
// zeros; "" (no position) comes first. It returns -1, 0 or +1.
func (s SequenceNumber) Compare(o SequenceNumber) int {
	a, b := strings.TrimLeft(string(s), "0"), strings.TrimLeft(string(o), "0")
	if len(a) != len(b) {
		if len(a) < len(b) {
			return -1
		}
		return 1
	}
	return strings.Compare(a, b)
}

// Key pads s with zeros to SequenceKeyWidth digits, so keys sort as text in numeric
// order: the form in segment names and in the sequence_key column. A longer s is
// returned as it is.
func (s SequenceNumber) Key() string {
	if len(s) >= SequenceKeyWidth {
		return string(s)
	}
	return string(s.AppendKey(make([]byte, 0, SequenceKeyWidth)))
}

// AppendKey appends Key() to b, for writers that must not allocate per record.
func (s SequenceNumber) AppendKey(b []byte) []byte {
	for range SequenceKeyWidth - len(s) {
		b = append(b, '0')
	}
	return append(b, s...)
}
