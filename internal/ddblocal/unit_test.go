package ddblocal

import (
	"net"
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

func TestCreateTableInput_AppliesDefaultsAndOptions(t *testing.T) {
	tests := []struct {
		name       string
		opts       TableOptions
		wantKeys   string // name:type/role, schema order
		wantDefs   string // name:type, definition order
		wantStream string // "" means no StreamSpecification
		wantErr    string
	}{
		{name: "zero value", opts: TableOptions{},
			wantKeys: "pk/HASH sk/RANGE", wantDefs: "pk:S sk:S", wantStream: "NEW_AND_OLD_IMAGES"},
		{name: "hash only",
			opts:     TableOptions{PartitionKey: Key{Name: "id", Type: types.ScalarAttributeTypeN}, NoSortKey: true},
			wantKeys: "id/HASH", wantDefs: "id:N", wantStream: "NEW_AND_OLD_IMAGES"},
		{name: "key type defaults to S",
			opts:     TableOptions{PartitionKey: Key{Name: "a"}, SortKey: Key{Name: "b", Type: types.ScalarAttributeTypeB}},
			wantKeys: "a/HASH b/RANGE", wantDefs: "a:S b:B", wantStream: "NEW_AND_OLD_IMAGES"},
		{name: "other view type", opts: TableOptions{StreamView: types.StreamViewTypeNewImage},
			wantKeys: "pk/HASH sk/RANGE", wantDefs: "pk:S sk:S", wantStream: "NEW_IMAGE"},
		{name: "no stream", opts: TableOptions{NoStream: true, StreamView: types.StreamViewTypeKeysOnly},
			wantKeys: "pk/HASH sk/RANGE", wantDefs: "pk:S sk:S"},
		{name: "indexes define their attributes once",
			opts: TableOptions{
				GlobalIndexes: []Index{{Name: "g", PartitionKey: Key{Name: "sk"}, SortKey: Key{Name: "n", Type: types.ScalarAttributeTypeN}}},
				LocalIndexes:  []Index{{Name: "l", SortKey: Key{Name: "n", Type: types.ScalarAttributeTypeN}}},
			},
			wantKeys: "pk/HASH sk/RANGE", wantDefs: "pk:S sk:S n:N", wantStream: "NEW_AND_OLD_IMAGES"},
		{name: "conflicting attribute types",
			opts:    TableOptions{GlobalIndexes: []Index{{Name: "g", PartitionKey: Key{Name: "sk", Type: types.ScalarAttributeTypeN}}}},
			wantErr: "attribute sk declared as both S and N"},
		{name: "global index without partition key",
			opts:    TableOptions{GlobalIndexes: []Index{{Name: "g"}}},
			wantErr: `global index "g" needs a partition key`},
		{name: "local index without sort key",
			opts:    TableOptions{LocalIndexes: []Index{{Name: "l"}}},
			wantErr: `local index "l" needs a sort key`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in, err := createTableInput("tbl", tt.opts)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("createTableInput: %v", err)
			}
			var keys, defs []string
			for _, k := range in.KeySchema {
				keys = append(keys, aws.ToString(k.AttributeName)+"/"+string(k.KeyType))
			}
			for _, d := range in.AttributeDefinitions {
				defs = append(defs, aws.ToString(d.AttributeName)+":"+string(d.AttributeType))
			}
			if got := strings.Join(keys, " "); got != tt.wantKeys {
				t.Errorf("key schema = %q, want %q", got, tt.wantKeys)
			}
			if got := strings.Join(defs, " "); got != tt.wantDefs {
				t.Errorf("attribute definitions = %q, want %q", got, tt.wantDefs)
			}
			var stream string
			if in.StreamSpecification != nil {
				stream = string(in.StreamSpecification.StreamViewType)
			}
			if stream != tt.wantStream {
				t.Errorf("stream = %q, want %q", stream, tt.wantStream)
			}
			if in.BillingMode != types.BillingModePayPerRequest {
				t.Errorf("billing mode = %s, want PAY_PER_REQUEST", in.BillingMode)
			}
		})
	}
}

func TestTableName_IsValidAndUnique(t *testing.T) {
	tests := []struct {
		prefix string
		seq    int64
		want   string
	}{
		{"TestX/sub case", 7, "TestX-sub-case-7"},
		{"", 1, "t-1"},
		{"a", 2, "a-2"},
		{"ok_name.v2-x", 3, "ok_name.v2-x-3"},
		{strings.Repeat("y", 300), 12, strings.Repeat("y", 252) + "-12"},
	}
	for _, tt := range tests {
		if got := tableName(tt.prefix, tt.seq); got != tt.want {
			t.Errorf("tableName(%q, %d) = %q, want %q", tt.prefix, tt.seq, got, tt.want)
		}
	}
}

func TestAWSConfig_RoutesOnlyDynamoDBAndStreamsToTheInstance(t *testing.T) {
	inst := &Instance{Endpoint: "http://127.0.0.1:1234"}
	cfg := inst.AWSConfig()
	if got := aws.ToString(dynamodb.NewFromConfig(cfg).Options().BaseEndpoint); got != inst.Endpoint {
		t.Errorf("dynamodb endpoint = %q, want %q", got, inst.Endpoint)
	}
	if got := aws.ToString(dynamodbstreams.NewFromConfig(cfg).Options().BaseEndpoint); got != inst.Endpoint {
		t.Errorf("dynamodbstreams endpoint = %q, want %q", got, inst.Endpoint)
	}
	if os.Getenv("AWS_ENDPOINT_URL_S3") == "" && os.Getenv("AWS_ENDPOINT_URL") == "" {
		if got := s3.NewFromConfig(cfg).Options().BaseEndpoint; got != nil {
			t.Errorf("s3 endpoint = %q, want none (not DynamoDB Local)", *got)
		}
	}
	if cfg.Region != "us-east-1" {
		t.Errorf("region = %q, want us-east-1", cfg.Region)
	}
	if got := aws.ToString(inst.DynamoDB().Options().BaseEndpoint); got != inst.Endpoint {
		t.Errorf("DynamoDB() endpoint = %q", got)
	}
	if got := aws.ToString(inst.Streams().Options().BaseEndpoint); got != inst.Endpoint {
		t.Errorf("Streams() endpoint = %q", got)
	}
}

func TestListensOn_TellsWhetherThisProcessHoldsThePort(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	if !listensOn(os.Getpid(), port) {
		t.Errorf("listensOn(self, %d) = false for a port this process listens on", port)
	}
	if listensOn(os.Getpid(), Shared(t).Port) {
		t.Errorf("listensOn(self, %d) = true for DynamoDB Local's port", Shared(t).Port)
	}
	if !listensOn(Shared(t).cmd.Process.Pid, Shared(t).Port) {
		t.Errorf("listensOn(java, %d) = false", Shared(t).Port)
	}
}
