package restore

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/ddbtape/ddbtape/writer"
)

func TestImportCreation_TakesKeysIndexesBillingAndEncryptionFromTheManifest(t *testing.T) {
	m := &writer.Manifest{TableName: "orders", BillingMode: "PROVISIONED", ReadCapacityUnits: 5, WriteCapacityUnits: 7,
		KeySchema:            []writer.KeyElement{{AttributeName: "pk", KeyType: "HASH"}, {AttributeName: "sk", KeyType: "RANGE"}},
		AttributeDefinitions: []writer.AttributeDefinition{{AttributeName: "pk", AttributeType: "S"}, {AttributeName: "sk", AttributeType: "N"}, {AttributeName: "g", AttributeType: "S"}, {AttributeName: "unused", AttributeType: "B"}},
		GlobalSecondaryIndexes: []writer.SecondaryIndex{{IndexName: "by-g", KeySchema: []writer.KeyElement{{AttributeName: "g", KeyType: "HASH"}},
			ProjectionType: "INCLUDE", NonKeyAttributes: []string{"a"}, ReadCapacityUnits: 1, WriteCapacityUnits: 2}},
		SSEType: "KMS", SSEKMSKeyARN: "arn:aws:kms:us-east-1:1:key/k", StreamViewType: "NEW_IMAGE"}
	tc, err := ImportCreation("orders-1042", m)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(tc)
	want := `{"TableName":"orders-1042","AttributeDefinitions":[{"AttributeName":"pk","AttributeType":"S"},{"AttributeName":"sk","AttributeType":"N"},{"AttributeName":"g","AttributeType":"S"}],` +
		`"KeySchema":[{"AttributeName":"pk","KeyType":"HASH"},{"AttributeName":"sk","KeyType":"RANGE"}],"BillingMode":"PROVISIONED","ProvisionedThroughput":{"ReadCapacityUnits":5,"WriteCapacityUnits":7},` +
		`"GlobalSecondaryIndexes":[{"IndexName":"by-g","KeySchema":[{"AttributeName":"g","KeyType":"HASH"}],"Projection":{"ProjectionType":"INCLUDE","NonKeyAttributes":["a"]},"ProvisionedThroughput":{"ReadCapacityUnits":1,"WriteCapacityUnits":2}}],` +
		`"SSESpecification":{"Enabled":true,"SSEType":"KMS","KMSMasterKeyId":"arn:aws:kms:us-east-1:1:key/k"}}`
	if string(got) != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	in := tc.Input("bkt", "pre/data/", "tok")
	p := in.TableCreationParameters
	if aws.ToString(in.S3BucketSource.S3KeyPrefix) != "pre/data/" || string(in.InputCompressionType) != "GZIP" || string(in.InputFormat) != "DYNAMODB_JSON" ||
		aws.ToString(p.TableName) != "orders-1042" || len(p.AttributeDefinitions) != 3 || len(p.GlobalSecondaryIndexes) != 1 ||
		aws.ToInt64(p.GlobalSecondaryIndexes[0].ProvisionedThroughput.WriteCapacityUnits) != 2 || aws.ToString(p.SSESpecification.KMSMasterKeyId) == "" || aws.ToString(in.ClientToken) != "tok" {
		t.Errorf("ImportTable input %+v", in)
	}
	cmd := tc.Command("bkt", "pre/data/")
	if !strings.HasPrefix(cmd, `aws dynamodb import-table --s3-bucket-source '{"S3Bucket":"bkt","S3KeyPrefix":"pre/data/"}' --input-format DYNAMODB_JSON --input-compression-type GZIP --table-creation-parameters '{"TableName":"orders-1042",`) {
		t.Errorf("command %s", cmd)
	}
	left := strings.Join(ImportLeavesOut(m), "\n")
	for _, w := range []string{"stream (NEW_IMAGE)", "time to live", "point-in-time recovery", "tags"} {
		if !strings.Contains(left, w) {
			t.Errorf("what Import leaves out does not say %q:\n%s", w, left)
		}
	}
}

func TestImportCreation_RefusesLocalIndexesInOneLine(t *testing.T) {
	m := &writer.Manifest{TableName: "orders", KeySchema: []writer.KeyElement{{AttributeName: "pk", KeyType: "HASH"}},
		LocalSecondaryIndexes: []writer.SecondaryIndex{{IndexName: "by-date"}, {IndexName: "by-size"}}}
	_, err := ImportCreation("x", m)
	if !errors.Is(err, ErrLocalIndexes) || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), "by-date, by-size") {
		t.Errorf("err = %v", err)
	}
}

func TestShellQuote(t *testing.T) {
	for in, want := range map[string]string{"plain-1.json": "plain-1.json", `{"a":"it's"}`: `'{"a":"it'\''s"}'`, "": "''"} {
		if got := shellQuote(in); got != want {
			t.Errorf("shellQuote(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestImportFilesCreation_LeavesLocalIndexesOutAndSaysSo(t *testing.T) {
	m := &writer.Manifest{TableName: "orders", KeySchema: []writer.KeyElement{{AttributeName: "pk", KeyType: "HASH"}},
		AttributeDefinitions:  []writer.AttributeDefinition{{AttributeName: "pk", AttributeType: "S"}, {AttributeName: "d", AttributeType: "S"}},
		LocalSecondaryIndexes: []writer.SecondaryIndex{{IndexName: "by-date", KeySchema: []writer.KeyElement{{AttributeName: "pk", KeyType: "HASH"}, {AttributeName: "d", KeyType: "RANGE"}}}}}
	tc, left, err := ImportFilesCreation("orders-restored", m)
	if err != nil || len(tc.AttributeDefinitions) != 1 || len(left) < 2 || !strings.Contains(left[0], "local secondary indexes (by-date)") {
		t.Errorf("creation %+v, left out %q, err %v", tc, left, err)
	}
	if len(m.LocalSecondaryIndexes) != 1 {
		t.Errorf("the manifest was changed")
	}
}
