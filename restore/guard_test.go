package restore

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/ddbtape/ddbtape/ddbjson"
	"github.com/ddbtape/ddbtape/internal/ddblocal"
	"github.com/ddbtape/ddbtape/internal/workload"
)

func TestMain(m *testing.M) { ddblocal.Main(m) }

func TestGuard_ComparesWhatWasReadAndRequiresWhatIsAddedToBeAbsent(t *testing.T) {
	keys := []string{"pk", "sk"}
	e, err := Guard(`{"pk":{"S":"a"},"sk":{"S":"b"}}`, `{"pk":{"S":"a"},"sk":{"S":"b"},"v":{"N":"1"}}`, "", keys)
	if err != nil || e.Condition != "attribute_not_exists(#k)" || e.Names["#k"] != "pk" || e.Values != nil || e.Set != "" {
		t.Errorf("read as absent: %+v %v", e, err)
	}
	// Read: a, z; writing: a, n. z goes, n must be absent, a and z as read.
	e, err = Guard(`{"pk":{"S":"a"}}`, `{"pk":{"S":"a"},"sk":{"S":"b"},"a":{"SS":["y"]},"n":{"N":"2"}}`, `{"pk":{"S":"a"},"sk":{"S":"b"},"z":{"N":"1"},"a":{"SS":["x"]}}`, keys)
	if err != nil {
		t.Fatal(err)
	}
	if want := "attribute_exists(#k) AND #a0 = :e0 AND attribute_not_exists(#a1) AND #a2 = :e2"; e.Condition != want {
		t.Errorf("condition %q, want %q", e.Condition, want)
	}
	if e.Set != "#a0 = :x0, #a1 = :x1" || e.Remove != "#a2" || *e.update() != "SET #a0 = :x0, #a1 = :x1 REMOVE #a2" {
		t.Errorf("update %q / %q", e.Set, e.Remove)
	}
	if e.Names["#a0"] != "a" || e.Names["#a1"] != "n" || e.Names["#a2"] != "z" || len(e.Values) != 4 {
		t.Errorf("names %v values %v", e.Names, e.Values)
	}
	e, err = Guard(`{"pk":{"S":"a"}}`, "", `{"pk":{"S":"a"},"sk":{"S":"b"},"v":{"N":"1"}}`, keys)
	if err != nil || e.Condition != "attribute_exists(#k) AND #a0 = :e0" || e.Set != "" || e.Remove != "" || len(e.Values) != 1 {
		t.Errorf("delete: %+v %v", e, err)
	}
	var big strings.Builder
	big.WriteString(`{"pk":{"S":"a"}`)
	for i := range 101 {
		fmt.Fprintf(&big, `,"attr%03d":{"N":"1"}`, i)
	}
	big.WriteString("}")
	if _, err := Guard(`{"pk":{"S":"a"}}`, "", big.String(), keys); !errors.Is(err, errTooLarge) {
		t.Errorf("101 attributes: %v, want errTooLarge", err)
	}
}

// guardFixture is a table of workload items (every attribute type) and the model of it.
func guardFixture(t *testing.T) (*dynamodb.Client, string, *workload.Workload) {
	t.Helper()
	db := ddblocal.Shared(t).DynamoDB()
	table := ddblocal.CreateTable(t, db, ddblocal.TableOptions{NoStream: true})
	w := workload.New(db, table, 7, 12)
	if err := w.Run(context.Background(), 40); err != nil {
		t.Fatal(err)
	}
	return db, table, w
}

func TestWriteGuarded_WritesOnlyWhereTheTableHoldsWhatWasRead(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	db, table, w := guardFixture(t)
	live, err := workload.ScanAll(ctx, db, table)
	if err != nil {
		t.Fatal(err)
	}
	keys := mapsKeys(live)
	if len(keys) < 6 {
		t.Fatalf("only %d items", len(keys))
	}
	// Each key gets a change written as if the table held its item as read; then some
	// items change under the writer: one is rewritten, one gains an attribute, one is
	// deleted, and an item appears where an insert was planned.
	newItem := func(k string) string {
		it := w.RandomItem(mustDDB(t, k))
		return workload.MustCanonical(it)
	}
	changed, grown, gone, appeared := keys[0], keys[1], keys[2], `{"pk":{"S":"user#999"},"sk":{"S":"item#99999"}}`
	var changes []Change
	for i, k := range keys {
		c := Change{Key: k, Item: newItem(k), Expect: live[k]}
		if i == 3 {
			c.Item = "" // a delete of an item unchanged since
		}
		changes = append(changes, c)
	}
	changes = append(changes, Change{Key: appeared, Item: newItem(appeared)})

	later := map[string]string{}
	put := func(item string) {
		t.Helper()
		av, err := ddbjson.ToDynamoDB(item)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: av}); err != nil {
			t.Fatal(err)
		}
	}
	later[changed] = newItem(changed)
	put(later[changed])
	g := strings.TrimSuffix(live[grown], "}") + `,"zz_added":{"S":"later"}}`
	later[grown] = g
	put(g)
	if _, err := db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(table), Key: mustDDB(t, gone)}); err != nil {
		t.Fatal(err)
	}
	later[gone] = ""
	later[appeared] = newItem(appeared)
	put(later[appeared])

	var written []Change
	st, err := WriteGuarded(ctx, db, table, func(yield func(Change) error) error {
		for _, c := range changes {
			if err := yield(c); err != nil {
				return err
			}
		}
		return nil
	}, GuardOptions{KeyNames: []string{"pk", "sk"}, Workers: 3, Written: func(c Change) { written = append(written, c) }})
	if err != nil {
		t.Fatal(err)
	}
	var conflicts []string
	for _, c := range st.Conflicts {
		conflicts = append(conflicts, c.Key)
		if c.Reason != ConflictChanged {
			t.Errorf("conflict %s: %s", c.Key, c.Reason)
		}
	}
	wantConflicts := mapsKeys(later)
	if strings.Join(conflicts, " ") != strings.Join(wantConflicts, " ") {
		t.Errorf("conflicts %v, want %v", conflicts, wantConflicts)
	}
	want := map[string]string{}
	for _, c := range changes {
		if _, ok := later[c.Key]; ok {
			if later[c.Key] != "" {
				want[c.Key] = canon(t, later[c.Key])
			}
			continue
		}
		if !c.Delete() {
			want[c.Key] = canon(t, c.Item)
		}
	}
	for _, k := range keys {
		if _, ok := want[k]; !ok && k != keys[3] && k != gone {
			want[k] = live[k]
		}
	}
	got, err := workload.ScanAll(ctx, db, table)
	if err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(got, want) {
		for k := range want {
			if got[k] != want[k] {
				t.Errorf("key %s: table holds %s\nwant %s", k, got[k], want[k])
			}
		}
		for k := range got {
			if _, ok := want[k]; !ok {
				t.Errorf("key %s: table holds %s, want none", k, got[k])
			}
		}
	}
	if int(st.Puts+st.Deletes) != len(changes)-len(later) || len(written) != len(changes)-len(later) || st.Deletes != 1 {
		t.Errorf("stats %+v, %d told written, want %d changes written", st, len(written), len(changes)-len(later))
	}
}

func mapsKeys(m map[string]string) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

func mustDDB(t *testing.T, s string) map[string]types.AttributeValue {
	t.Helper()
	m, err := ddbjson.ToDynamoDB(s)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func canon(t *testing.T, s string) string {
	t.Helper()
	c, err := ddbjson.Canonical(s)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
