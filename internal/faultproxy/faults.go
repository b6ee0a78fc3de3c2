package faultproxy

import (
	"fmt"
	"time"
)

// Action is what the proxy does with a request a rule picked.
type Action int

const (
	// Respond answers with the fault's Status, ContentType and Body; the request never
	// reaches the target.
	Respond Action = iota + 1
	// Reset closes the client's connection with a TCP RST before forwarding: the request
	// never reaches the target.
	Reset
	// ResetAfter forwards the request, waits for the target's answer, then resets the
	// connection instead of answering: the request took effect but the client cannot know.
	ResetAfter
	// Delay waits Fault.Delay (or until the client gives up), then forwards.
	Delay
	// Truncate forwards, then sends the target's status and headers with the full
	// Content-Length but only the first half of the body, and closes the connection.
	Truncate
)

// Fault is one kind of misbehaviour. Name keys the proxy's counters.
type Fault struct {
	Name        string
	Action      Action
	Status      int    // Respond
	ContentType string // Respond
	Body        string // Respond
	Delay       time.Duration
}

// DynamoDB error bodies as the service sends them: status 400 for throttling (which the SDK
// classifies by the __type code, not the status), 5xx for server faults. DynamoDB Streams
// uses the same JSON protocol and namespace.
var (
	ProvisionedThroughputExceeded = dynamoError(400, "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
		"The level of configured provisioned throughput for the table was exceeded. Consider increasing your provisioning level with the UpdateTable API.")
	Throttling = dynamoError(400, "com.amazon.coral.availability#ThrottlingException",
		"Rate of requests exceeds the allowed throughput.")
	LimitExceeded = dynamoError(400, "com.amazonaws.dynamodb.v20120810#LimitExceededException",
		"Too many operations for a given subscriber.")
	RequestLimitExceeded = dynamoError(400, "com.amazonaws.dynamodb.v20120810#RequestLimitExceeded",
		"Throughput exceeds the current throughput limit for your account. Please contact AWS Support at https://aws.amazon.com/support request a limit increase")
	InternalServerError = dynamoError(500, "com.amazonaws.dynamodb.v20120810#InternalServerError",
		"Internal server error")
	ServiceUnavailable = dynamoError(503, "com.amazon.coral.availability#ServiceUnavailableException",
		"Service Unavailable")
	// ExpiredIterator is GetRecords' answer to a shard iterator older than 15 minutes.
	ExpiredIterator = dynamoError(400, "com.amazonaws.dynamodb.v20120810#ExpiredIteratorException",
		"Iterator expired. The iterator was created more than 15 minutes ago.")
	// TrimmedDataAccess is the answer for records already past the stream's 24-hour retention.
	TrimmedDataAccess = dynamoError(400, "com.amazonaws.dynamodb.v20120810#TrimmedDataAccessException",
		"The operation attempted to read past the oldest stream record in a shard.")
)

// S3 error bodies (XML, as S3 sends them).
var (
	S3SlowDown      = s3Error(503, "SlowDown", "Please reduce your request rate.")
	S3InternalError = s3Error(500, "InternalError", "We encountered an internal error. Please try again.")
)

// Faults at the connection level.
var (
	ConnectionReset      = Fault{Name: "ConnectionReset", Action: Reset}
	ConnectionResetAfter = Fault{Name: "ConnectionResetAfter", Action: ResetAfter}
	TruncatedResponse    = Fault{Name: "TruncatedResponse", Action: Truncate}
)

// Delayed holds a request back for d before forwarding it.
func Delayed(d time.Duration) Fault {
	return Fault{Name: "Delay", Action: Delay, Delay: d}
}

func dynamoError(status int, typ, message string) Fault {
	return Fault{
		Name:        shortType(typ),
		Action:      Respond,
		Status:      status,
		ContentType: "application/x-amz-json-1.0",
		Body:        fmt.Sprintf(`{"__type":%q,"message":%q}`, typ, message),
	}
}

func shortType(typ string) string {
	for i := len(typ) - 1; i >= 0; i-- {
		if typ[i] == '#' {
			return typ[i+1:]
		}
	}
	return typ
}

func s3Error(status int, code, message string) Fault {
	return Fault{
		Name:        "S3" + code,
		Action:      Respond,
		Status:      status,
		ContentType: "application/xml",
		Body: fmt.Sprintf(`<?xml version="1.0" encoding="UTF-8"?>`+"\n"+
			`<Error><Code>%s</Code><Message>%s</Message><RequestId>faultproxy</RequestId><HostId>faultproxy</HostId></Error>`,
			code, message),
	}
}
