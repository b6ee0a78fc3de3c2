package fakestreams

import (
	"encoding/json"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"
)

// The JSON shapes below follow the AWS JSON 1.0 protocol of DynamoDB Streams
// (DynamoDBStreams_20120810) and DynamoDB (DynamoDB_20120810) as the SDK's schemas and
// response snapshots give them: PascalCase members, except the record envelope
// (awsRegion, dynamodb, eventID, eventName, eventSource, eventVersion, userIdentity);
// timestamps are epoch seconds as JSON numbers.

type describeStreamIn struct {
	StreamArn             string
	Limit                 *int32
	ExclusiveStartShardId *string
}

type getShardIteratorIn struct {
	StreamArn         string
	ShardId           string
	ShardIteratorType string
	SequenceNumber    *string
}

type getRecordsIn struct {
	ShardIterator string
	Limit         *int32
}

type listStreamsIn struct {
	TableName               *string
	Limit                   *int32
	ExclusiveStartStreamArn *string
}

type describeTableIn struct {
	TableName string
}

type seqRangeOut struct {
	StartingSequenceNumber string `json:",omitempty"`
	EndingSequenceNumber   string `json:",omitempty"`
}

type shardOut struct {
	ShardId             string
	ParentShardId       string `json:",omitempty"`
	SequenceNumberRange seqRangeOut
}

type keySchemaOut struct {
	AttributeName string
	KeyType       string
}

type streamDescriptionOut struct {
	StreamArn               string
	StreamLabel             string
	StreamStatus            string
	StreamViewType          string
	TableName               string
	CreationRequestDateTime epochSeconds
	KeySchema               []keySchemaOut
	Shards                  []shardOut
	LastEvaluatedShardId    string `json:",omitempty"`
}

type describeStreamOut struct {
	StreamDescription streamDescriptionOut
}

type getShardIteratorOut struct {
	ShardIterator string
}

type getRecordsOut struct {
	Records           []json.RawMessage
	NextShardIterator string `json:",omitempty"`
}

type streamOut struct {
	StreamArn   string
	StreamLabel string
	TableName   string
}

type listStreamsOut struct {
	Streams                []streamOut
	LastEvaluatedStreamArn string `json:",omitempty"`
}

type attributeDefinitionOut struct {
	AttributeName string
	AttributeType string
}

type streamSpecificationOut struct {
	StreamEnabled  bool
	StreamViewType string `json:",omitempty"`
}

type tableOut struct {
	TableName            string
	TableArn             string
	TableId              string
	TableStatus          string
	CreationDateTime     epochSeconds
	ItemCount            int64
	TableSizeBytes       int64
	KeySchema            []keySchemaOut
	AttributeDefinitions []attributeDefinitionOut
	BillingModeSummary   struct{ BillingMode string }
	StreamSpecification  *streamSpecificationOut `json:",omitempty"`
	LatestStreamArn      string                  `json:",omitempty"`
	LatestStreamLabel    string                  `json:",omitempty"`
	GlobalTableVersion   string                  `json:",omitempty"`
	Replicas             []replicaOut            `json:",omitempty"`
}

// replicaOut is one replica of a global table, as DescribeTable lists it.
type replicaOut struct {
	RegionName    string
	ReplicaStatus string
}

type describeTableOut struct {
	Table tableOut
}

// recordOut is one stream record as GetRecords returns it.
type recordOut struct {
	AwsRegion    string          `json:"awsRegion"`
	Dynamodb     streamRecordOut `json:"dynamodb"`
	EventID      string          `json:"eventID"`
	EventName    string          `json:"eventName"`
	EventSource  string          `json:"eventSource"`
	EventVersion string          `json:"eventVersion"`
	UserIdentity *identityOut    `json:"userIdentity,omitempty"`
}

type streamRecordOut struct {
	ApproximateCreationDateTime epochSeconds
	Keys                        map[string]any
	NewImage                    map[string]any `json:",omitempty"`
	OldImage                    map[string]any `json:",omitempty"`
	SequenceNumber              string
	SizeBytes                   int64
	StreamViewType              string
}

type identityOut struct {
	PrincipalId string
	Type        string
}

type errorOut struct {
	Type    string `json:"__type"`
	Message string `json:"message"`
}

// epochSeconds encodes a time as whole epoch seconds, as DynamoDB stamps stream records
// (rounded down to the second).
type epochSeconds time.Time

func (e epochSeconds) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Time(e).Unix())
}

// attributeMap converts SDK attribute values to DynamoDB JSON.
func attributeMap(m map[string]types.AttributeValue) map[string]any {
	if m == nil {
		return nil
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = attributeValue(v)
	}
	return out
}

func attributeValue(v types.AttributeValue) any {
	switch v := v.(type) {
	case *types.AttributeValueMemberS:
		return map[string]any{"S": v.Value}
	case *types.AttributeValueMemberN:
		return map[string]any{"N": v.Value}
	case *types.AttributeValueMemberB:
		return map[string]any{"B": v.Value} // []byte marshals as base64, as on the wire
	case *types.AttributeValueMemberBOOL:
		return map[string]any{"BOOL": v.Value}
	case *types.AttributeValueMemberNULL:
		return map[string]any{"NULL": v.Value}
	case *types.AttributeValueMemberSS:
		return map[string]any{"SS": v.Value}
	case *types.AttributeValueMemberNS:
		return map[string]any{"NS": v.Value}
	case *types.AttributeValueMemberBS:
		return map[string]any{"BS": v.Value}
	case *types.AttributeValueMemberL:
		l := make([]any, len(v.Value))
		for i, e := range v.Value {
			l[i] = attributeValue(e)
		}
		return map[string]any{"L": l}
	case *types.AttributeValueMemberM:
		return map[string]any{"M": attributeMap(v.Value)}
	}
	return map[string]any{"NULL": true}
}
