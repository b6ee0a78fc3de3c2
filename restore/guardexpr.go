package restore

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/ddbtape/ddbtape/ddbjson"
)

// Expr is the expressions of one guarded write, with their placeholders.
type Expr struct {
	// Set and Remove make the UpdateExpression of an update ("" for a put or a delete).
	Set, Remove string
	Condition   string
	Names       map[string]string
	Values      map[string]types.AttributeValue
}

func (e Expr) update() *string {
	var parts []string
	if e.Set != "" {
		parts = append(parts, "SET "+e.Set)
	}
	if e.Remove != "" {
		parts = append(parts, "REMOVE "+e.Remove)
	}
	return aws.String(strings.Join(parts, " "))
}

// Limits of DynamoDB's expressions: a string of at most 4 KB and at most 300 operators;
// 100 attributes stay inside both.
const (
	maxExpression     = 4096
	maxCondAttributes = 100
)

var errTooLarge = errors.New(ConflictTooLarge)

// Guard builds the expressions of a guarded write of key: item ("" to delete) where the
// table holds expect ("" for no item).
//
//   - expect empty: a PutItem on condition that the key has no item.
//   - item empty: a DeleteItem on condition that every attribute of expect is as read.
//   - both: an UpdateItem that sets item's attributes and removes those of expect that
//     item lacks, on condition that every attribute of expect is as read and every other
//     attribute item sets is absent. Attributes neither names are left as they are.
//
// An item that would pass DynamoDB's limits is an error wrapping errTooLarge. It does no I/O.
func Guard(key, item, expect string, keyNames []string) (Expr, error) {
	if len(keyNames) == 0 {
		return Expr{}, fmt.Errorf("guard for %s: no key attributes", key)
	}
	e := Expr{Names: map[string]string{"#k": keyNames[0]}, Values: map[string]types.AttributeValue{}}
	if expect == "" {
		e.Condition = "attribute_not_exists(#k)"
		e.Values = nil
		return e, nil
	}
	want, err := attrs(key, expect, keyNames)
	if err != nil {
		return Expr{}, err
	}
	put := map[string]types.AttributeValue{}
	if item != "" {
		if put, err = attrs(key, item, keyNames); err != nil {
			return Expr{}, err
		}
	}
	names := make([]string, 0, len(want)+len(put))
	for n := range want {
		names = append(names, n)
	}
	for n := range put {
		if _, ok := want[n]; !ok {
			names = append(names, n)
		}
	}
	if len(names) > maxCondAttributes {
		return Expr{}, fmt.Errorf("item %s: %w", key, errTooLarge)
	}
	sort.Strings(names)
	cond := []string{"attribute_exists(#k)"}
	var set, remove []string
	for i, n := range names {
		ph := fmt.Sprintf("#a%d", i)
		e.Names[ph] = n
		if v, ok := want[n]; ok {
			cond = append(cond, fmt.Sprintf("%s = :e%d", ph, i))
			e.Values[fmt.Sprintf(":e%d", i)] = v
		} else {
			cond = append(cond, fmt.Sprintf("attribute_not_exists(%s)", ph))
		}
		if item == "" {
			continue
		}
		if v, ok := put[n]; ok {
			set = append(set, fmt.Sprintf("%s = :x%d", ph, i))
			e.Values[fmt.Sprintf(":x%d", i)] = v
		} else {
			remove = append(remove, ph)
		}
	}
	e.Condition = strings.Join(cond, " AND ")
	e.Set, e.Remove = strings.Join(set, ", "), strings.Join(remove, ", ")
	if len(e.Condition) > maxExpression || len(e.Set)+len(e.Remove)+12 > maxExpression {
		return Expr{}, fmt.Errorf("item %s: %w", key, errTooLarge)
	}
	if len(e.Values) == 0 {
		e.Values = nil
	}
	return e, nil
}

// attrs are an item's attributes but its key's.
func attrs(key, item string, keyNames []string) (map[string]types.AttributeValue, error) {
	m, err := ddbjson.ToDynamoDB(item)
	if err != nil {
		return nil, fmt.Errorf("item %s: %w", key, err)
	}
	for n := range m {
		if slices.Contains(keyNames, n) {
			delete(m, n)
		}
	}
	return m, nil
}
