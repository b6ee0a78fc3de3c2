package retry

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"syscall"
	"time"

	"github.com/aws/smithy-go"
)

// DefaultFirstContact is how long a first call that never reached its endpoint is
// retried before Do gives up, when its Policy sets FirstContact: a mistyped endpoint or a
// service that is not running should be said within seconds, not after the retry bound.
const DefaultFirstContact = 15 * time.Second

// ErrUnreachable means an endpoint could not be reached at all: no connection was made
// (refused, unknown host, no route, a failed TLS handshake). The error wrapping it names
// the service, the endpoint and the cause.
var ErrUnreachable = errors.New("cannot reach the endpoint")

// UnreachableHint is what to check when an endpoint cannot be reached.
const UnreachableHint = "check --endpoint-url (or AWS_ENDPOINT_URL), --region and the network, and that the service is running"

// Endpoint describes a call that reached nobody.
type Endpoint struct {
	Service string // "DynamoDB", "S3", ... ("" when unknown)
	URL     string // scheme://host[:port] of the request
	Cause   string // "connection refused", "unknown host", ...
}

func (e Endpoint) String() string {
	s := e.URL
	if e.Service != "" {
		s = e.Service + " at " + s
	}
	return fmt.Sprintf("%s (%s)", s, e.Cause)
}

// Hint is what to check when e cannot be reached.
func (e Endpoint) Hint() string {
	if e.Service == "S3" {
		return "check AWS_ENDPOINT_URL_S3 (or AWS_ENDPOINT_URL), the bucket's region and the network, and that the S3 server is running"
	}
	return UnreachableHint
}

// Unreachable reports whether err is a failure to reach an endpoint at all, as opposed to
// an answer (even an error answer) or a connection lost midway, and describes it.
func Unreachable(err error) (Endpoint, bool) {
	if err == nil {
		return Endpoint{}, false
	}
	var e Endpoint
	var ue *url.Error
	if !errors.As(err, &ue) {
		return e, false
	}
	if u, perr := url.Parse(ue.URL); perr == nil && u.Host != "" {
		e.URL = u.Scheme + "://" + u.Host
	} else {
		e.URL = ue.URL
	}
	var oe *smithy.OperationError
	if errors.As(err, &oe) {
		e.Service = oe.ServiceID
	}
	var (
		dnsErr  *net.DNSError
		opErr   *net.OpError
		certErr *tls.CertificateVerificationError
		unkAuth x509.UnknownAuthorityError
		recErr  tls.RecordHeaderError
	)
	switch {
	case errors.As(err, &dnsErr):
		e.Cause = "unknown host " + dnsErr.Name
	case errors.Is(err, syscall.ECONNREFUSED):
		e.Cause = "connection refused"
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		e.Cause = "no route to host"
	case errors.As(err, &certErr), errors.As(err, &unkAuth):
		e.Cause = "TLS certificate not trusted"
	case errors.As(err, &recErr):
		e.Cause = "TLS handshake failed (is it an http:// endpoint?)"
	case errors.As(err, &opErr) && opErr.Op == "dial":
		e.Cause = "cannot connect"
		if opErr.Timeout() {
			e.Cause = "connection timed out"
		}
	default:
		return Endpoint{}, false
	}
	return e, true
}

// UnreachableError is Do's error when FirstContact ran out: the endpoint was never
// reached. It wraps ErrUnreachable, ErrGaveUp and the last error, and says only what to
// check (the SDK's own text of a failed dial is long and says nothing more).
type UnreachableError struct {
	Endpoint Endpoint
	What     string
	Attempts int
	Elapsed  time.Duration
	Err      error
}

func (e *UnreachableError) Error() string {
	what := e.What
	if what == "" {
		what = "make the call"
	}
	return fmt.Sprintf("cannot reach %s for %s while trying to %s (%d attempts): %s",
		e.Endpoint, e.Elapsed.Round(100*time.Millisecond), what, e.Attempts, e.Endpoint.Hint())
}

func (e *UnreachableError) Unwrap() []error { return []error{ErrUnreachable, ErrGaveUp, e.Err} }
