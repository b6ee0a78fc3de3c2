package globaltable

import (
	"context"
	"reflect"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/ddbtape/ddbtape/ddbjson"
	"github.com/ddbtape/ddbtape/internal/fakestreams"
)

// TestDescribe_DetectsReplicasAndVersionFromDescribeTable reads DescribeTable answers of
// the fake server (DynamoDB Local cannot make a global table) through the real SDK client.
func TestDescribe_DetectsReplicasAndVersionFromDescribeTable(t *testing.T) {
	s := fakestreams.NewServer(fakestreams.Options{Region: "eu-west-1"})
	t.Cleanup(s.Close)
	for _, spec := range []fakestreams.TableSpec{
		{Name: "orders", StreamViewType: "NEW_AND_OLD_IMAGES", GlobalTableVersion: Version2019, Replicas: []string{"us-east-1", "eu-west-1", "ap-south-1"}},
		{Name: "legacy", StreamViewType: "NEW_AND_OLD_IMAGES", GlobalTableVersion: Version2017},
		{Name: "local", StreamViewType: "NEW_IMAGE"},
	} {
		if _, err := s.CreateTable(spec); err != nil {
			t.Fatal(err)
		}
	}
	db := dynamodb.NewFromConfig(s.Config())
	cases := []struct {
		table  string
		want   Info
		global bool
		text   string
	}{
		{"orders", Info{Region: "eu-west-1", Version: Version2019, Replicas: []string{"ap-south-1", "eu-west-1", "us-east-1"}}, true,
			"global table (version 2019.11.21, replicas ap-south-1, eu-west-1, us-east-1)"},
		{"legacy", Info{Region: "eu-west-1", Version: Version2017}, true, "global table (version 2017.11.29)"},
		{"local", Info{Region: "eu-west-1"}, false, "single-region table"},
	}
	for _, c := range cases {
		t.Run(c.table, func(t *testing.T) {
			out, err := db.DescribeTable(context.Background(), &dynamodb.DescribeTableInput{TableName: aws.String(c.table)})
			if err != nil {
				t.Fatal(err)
			}
			got := Describe(out.Table)
			if !reflect.DeepEqual(got, c.want) || got.Global() != c.global || got.String() != c.text {
				t.Errorf("Describe = %+v (global %v, %q), want %+v (global %v, %q)", got, got.Global(), got.String(), c.want, c.global, c.text)
			}
		})
	}
}

func TestRegionOf(t *testing.T) {
	for arn, want := range map[string]string{
		"arn:aws:dynamodb:us-east-1:123456789012:table/orders/stream/2026-03-01T00:00:00.000": "us-east-1",
		"arn:aws-cn:dynamodb:cn-north-1:123456789012:table/orders":                            "cn-north-1",
		"arn:aws:dynamodb:ddblocal:000000000000:table/orders":                                 "ddblocal",
		"orders": "",
		"":       "",
	} {
		if got := RegionOf(arn); got != want {
			t.Errorf("RegionOf(%q) = %q, want %q", arn, got, want)
		}
	}
}

func TestStripAttributes_DropsOnlyTheLegacyReplicationAttributes(t *testing.T) {
	item := `{"pk":{"S":"a"},"aws:rep:deleting":{"BOOL":false},"aws:rep:updatetime":{"N":"1764667200.123001"},` +
		`"aws:rep:updateregion":{"S":"us-east-1"},"aws:report":{"S":"kept: not the prefix"},"m":{"M":{"aws:rep:deleting":{"BOOL":true}}}}`
	got, n, err := StripAttributes(item)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"aws:report":{"S":"kept: not the prefix"},"m":{"M":{"aws:rep:deleting":{"BOOL":true}}},"pk":{"S":"a"}}`
	if n != 3 || mustCanonical(t, got) != mustCanonical(t, want) {
		t.Errorf("StripAttributes = %s (%d removed), want %s (3 removed)", got, n, want)
	}
	plain := `{"pk":{"S":"b"},"v":{"N":"1"}}`
	if got, n, err := StripAttributes(plain); err != nil || n != 0 || got != plain {
		t.Errorf("an item without them: %s, %d, %v; want it unchanged", got, n, err)
	}
	if _, _, err := StripAttributes(`{"aws:rep:deleting":`); err == nil {
		t.Error("a damaged item was not refused")
	}
}

func mustCanonical(t *testing.T, item string) string {
	t.Helper()
	c, err := ddbjson.Canonical(item)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
