package replay

import (
	"bufio"
	"fmt"
	"io"
	"slices"
	"strings"

	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/ddbtape/ddbtape/ddbjson"
)

// KeyFilter restricts a restore to some items: a list of keys, or the keys whose partition
// key (a string) starts with a prefix. It applies to the live table too, so a partial
// restore into an existing table leaves every other item alone.
type KeyFilter struct {
	keys         map[string]bool // merge keys
	partitionKey string
	prefix       string
}

// ParseKeys reads one key per line, as DynamoDB JSON ({"pk":{"S":"a"},"sk":{"N":"1"}});
// blank lines are skipped. keyNames are the table's key attributes: a line with other
// attributes is an error naming the line.
func ParseKeys(r io.Reader, keyNames []string) (*KeyFilter, error) {
	f := &KeyFilter{keys: map[string]bool{}}
	want := slices.Clone(keyNames)
	slices.Sort(want)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		m, err := ddbjson.ToDynamoDB(line)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		got := make([]string, 0, len(m))
		for name := range m {
			got = append(got, name)
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			return nil, fmt.Errorf("line %d: a key must have exactly the attributes %s, got %s", n, strings.Join(want, ", "), strings.Join(got, ", "))
		}
		enc, err := ddbjson.FromDynamoDB(m)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		k, err := mergeKey(enc)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		f.keys[k] = true
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read keys: %w", err)
	}
	return f, nil
}

// PrefixFilter keeps the items whose partition key, a string attribute, starts with prefix.
func PrefixFilter(partitionKey, prefix string) *KeyFilter {
	return &KeyFilter{partitionKey: partitionKey, prefix: prefix}
}

// Keys are the keys of a key list, sorted (nil for a prefix filter).
func (f *KeyFilter) Keys() []string {
	if f == nil || f.keys == nil {
		return nil
	}
	keys := make([]string, 0, len(f.keys))
	for k := range f.keys {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// Len is the number of keys of a key list (0 for a prefix filter).
func (f *KeyFilter) Len() int {
	if f == nil {
		return 0
	}
	return len(f.keys)
}

// Match reports whether the filter keeps the item with merge key key.
func (f *KeyFilter) Match(key string) (bool, error) {
	if f.keys != nil {
		return f.keys[key], nil
	}
	m, err := ddbjson.ToDynamoDB(key)
	if err != nil {
		return false, fmt.Errorf("key %s: %w", key, err)
	}
	s, ok := m[f.partitionKey].(*ddbtypes.AttributeValueMemberS)
	return ok && strings.HasPrefix(s.Value, f.prefix), nil
}
