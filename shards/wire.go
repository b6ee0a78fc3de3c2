package shards

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"unsafe"

	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/ddbtape/ddbtape/ddbjson"
)

// With Reader.Transcode, GetRecords answers are read off the wire by ddbjson.ReadPage
// instead of the SDK's decoder: each record's items are transcoded straight into their
// stored form, and no AttributeValue tree is built. Everything else about the call (the
// request, signing, retries, errors, which the SDK still decodes) is the SDK's.

// pageKey is where readPage leaves the page in the call's result metadata.
type pageKey struct{}

// readPage is the innermost Deserialize middleware of a GetRecords call: it reads a
// successful answer's body itself and hands the SDK's decoder only the next iterator.
type readPage struct{}

func (readPage) ID() string { return "ddbtape.ReadGetRecordsPage" }

func (readPage) HandleDeserialize(ctx context.Context, in middleware.DeserializeInput, next middleware.DeserializeHandler) (
	middleware.DeserializeOutput, middleware.Metadata, error,
) {
	out, md, err := next.HandleDeserialize(ctx, in)
	if err != nil {
		return out, md, err
	}
	resp, ok := out.RawResponse.(*smithyhttp.Response)
	if !ok || resp.StatusCode < 200 || resp.StatusCode >= 300 {
		return out, md, nil // errors are the SDK's to decode
	}
	body, err := readBody(resp)
	if err != nil {
		return out, md, &smithy.DeserializationError{Err: fmt.Errorf("read GetRecords answer: %w", err)}
	}
	// The body is ours and never written again: read it as a string without a copy.
	page, err := ddbjson.ReadPage(unsafe.String(unsafe.SliceData(body), len(body)))
	if err != nil {
		return out, md, &smithy.DeserializationError{Err: fmt.Errorf("GetRecords answer: %w", err), Snapshot: body[:min(len(body), 1024)]}
	}
	md.Set(pageKey{}, page)
	stub := []byte("{}")
	if page.NextShardIterator != nil {
		stub, _ = json.Marshal(map[string]string{"NextShardIterator": *page.NextShardIterator})
	}
	resp.Body = io.NopCloser(strings.NewReader(string(stub)))
	return out, md, nil
}

func readBody(resp *smithyhttp.Response) ([]byte, error) {
	defer resp.Body.Close()
	if n := resp.ContentLength; n > 0 && n <= 64<<20 {
		body := make([]byte, n)
		if _, err := io.ReadFull(resp.Body, body); err != nil {
			return nil, err
		}
		return body, nil
	}
	return io.ReadAll(resp.Body)
}

// withReadPage is the call option that installs readPage.
func withReadPage(o *dynamodbstreams.Options) {
	o.APIOptions = append(o.APIOptions, func(s *middleware.Stack) error {
		return s.Deserialize.Add(readPage{}, middleware.After)
	})
}

// page returns what readPage read for the call out answers, if it did.
func page(out *dynamodbstreams.GetRecordsOutput) (ddbjson.Page, bool) {
	p, ok := out.ResultMetadata.Get(pageKey{}).(ddbjson.Page)
	return p, ok
}
