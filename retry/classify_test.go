package retry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"syscall"
	"testing"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

func resp(code int) error {
	return &smithyhttp.ResponseError{Response: &smithyhttp.Response{Response: &http.Response{StatusCode: code}}, Err: errors.New("x")}
}

func TestReason(t *testing.T) {
	http503 := http.Response{StatusCode: 503}
	tests := []struct {
		name      string
		err       error
		retry     bool
		throttled bool
	}{
		{"LimitExceededException", &smithy.GenericAPIError{Code: "LimitExceededException"}, true, true},
		{"ProvisionedThroughputExceededException", &smithy.GenericAPIError{Code: "ProvisionedThroughputExceededException"}, true, true},
		{"ThrottlingException", &smithy.GenericAPIError{Code: "ThrottlingException"}, true, true},
		{"RequestLimitExceeded wrapped", fmt.Errorf("op: %w", &types.RequestLimitExceeded{}), true, true},
		{"S3 SlowDown", &smithy.GenericAPIError{Code: "SlowDown"}, true, true},
		{"InternalServerError", &types.InternalServerError{}, true, false},
		{"HTTP 503 with unknown code", resp(503), true, false},
		{"SDK response error 503", &awshttp.ResponseError{ResponseError: &smithyhttp.ResponseError{Response: &smithyhttp.Response{Response: &http503}}}, true, false},
		{"HTTP 429", resp(429), true, true},
		{"HTTP 400", resp(400), false, false},
		{"request send error", &smithyhttp.RequestSendError{Err: errors.New("dial")}, true, false},
		{"connection reset", &net.OpError{Op: "read", Err: os.NewSyscallError("read", syscall.ECONNRESET)}, true, false},
		{"connection refused", fmt.Errorf("x: %w", syscall.ECONNREFUSED), true, false},
		{"EOF", fmt.Errorf("read body: %w", io.EOF), true, false},
		{"closed under the response (aws-sdk-go-v2#2737)", fmt.Errorf("deserialization failed: %w", net.ErrClosed), true, false},
		{"truncated body", &smithy.DeserializationError{Err: fmt.Errorf("decode: %w", io.ErrUnexpectedEOF)}, true, false},
		{"validation", &smithy.GenericAPIError{Code: "ValidationException"}, false, false},
		{"not found", &types.ResourceNotFoundException{}, false, false},
		{"access denied", &smithy.GenericAPIError{Code: "AccessDeniedException"}, false, false},
		{"expired iterator is handled, not retried", &smithy.GenericAPIError{Code: "ExpiredIteratorException"}, false, false},
		{"trimmed is a gap, not retried", &smithy.GenericAPIError{Code: "TrimmedDataAccessException"}, false, false},
		{"message text alone means nothing", errors.New("LimitExceededException: rate exceeded"), false, false},
		{"context canceled", fmt.Errorf("scan: %w", context.Canceled), false, false},
		{"cancelled while sending", &smithyhttp.RequestSendError{Err: context.Canceled}, false, false},
		{"deadline", context.DeadlineExceeded, false, false},
		{"nil", nil, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.err
			if err != nil {
				err = fmt.Errorf("operation error DynamoDB: Scan, %w", err)
			}
			if _, got := Reason(err); got != tt.retry {
				t.Errorf("Reason(%v) = %v, want %v", tt.err, got, tt.retry)
			}
			if got := Throttled(err); got != tt.throttled {
				t.Errorf("Throttled(%v) = %v, want %v", tt.err, got, tt.throttled)
			}
		})
	}
}
