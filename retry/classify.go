package retry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"

	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// throttleCodes are the codes DynamoDB and DynamoDB Streams use for rate limits.
var throttleCodes = map[string]bool{
	"LimitExceededException":                 true,
	"ProvisionedThroughputExceededException": true,
	"ThrottlingException":                    true,
	"RequestLimitExceeded":                   true,
	"SlowDown":                               true, // S3
}

// serverCodes are failures on the service's side that a later attempt may not meet.
var serverCodes = map[string]bool{
	"InternalServerError":            true,
	"InternalFailure":                true,
	"InternalError":                  true, // S3
	"ServiceUnavailable":             true,
	"ServiceUnavailableException":    true,
	"TransactionInProgressException": true,
}

// Throttled reports whether err is a rate limit (a throttling code, or HTTP 429).
func Throttled(err error) bool {
	var ae smithy.APIError
	if errors.As(err, &ae) && throttleCodes[ae.ErrorCode()] {
		return true
	}
	var status interface{ HTTPStatusCode() int }
	return errors.As(err, &status) && status.HTTPStatusCode() == 429
}

// Reason reports whether err is transient, worth another attempt of the same call, and
// why (for logs). A cancelled or timed-out context is never transient: the caller stops.
func Reason(err error) (string, bool) {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return "", false
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		code := ae.ErrorCode()
		switch {
		case throttleCodes[code]:
			return "throttled (" + code + ")", true
		case serverCodes[code]:
			return "server error (" + code + ")", true
		}
	}
	// Both smithyhttp.ResponseError and the SDK's awshttp.ResponseError have this method.
	var status interface{ HTTPStatusCode() int }
	if errors.As(err, &status) {
		switch c := status.HTTPStatusCode(); {
		case c >= 500:
			return fmt.Sprintf("server error (HTTP %d)", c), true
		case c == 429:
			return "throttled (HTTP 429)", true
		}
	}
	var sendErr *smithyhttp.RequestSendError
	if errors.As(err, &sendErr) {
		return "connection error", true
	}
	// A response cut off mid-body fails deserialization with an unexpected EOF; the SDK
	// does not retry that itself. Every call ddbtape makes is safe to repeat (reads, full
	// puts and deletes, conditional writes that check their own effect).
	for _, target := range []error{syscall.ECONNRESET, syscall.ECONNREFUSED, syscall.ECONNABORTED, syscall.EPIPE, net.ErrClosed, io.EOF, io.ErrUnexpectedEOF} {
		if errors.Is(err, target) {
			return "connection error", true
		}
	}
	var netErr net.Error
	if errors.As(err, &netErr) {
		return "network error", true
	}
	return "", false
}

// Retryable is Reason without the reason.
func Retryable(err error) bool {
	_, ok := Reason(err)
	return ok
}
