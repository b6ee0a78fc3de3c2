package iamcheck

import (
	"net/http/httptest"
	"path/filepath"
	"testing"
)

// The evaluator, on the capture role's real policy: new objects only with If-None-Match
// (and the parts of an upload), rewrites of coordination objects only, lists under the
// prefix only, no delete.
func TestDenied_CaptureRole(t *testing.T) {
	p, err := Load(map[string]string{"BACKUP_BUCKET": "bkt", "BACKUP_PREFIX": "pre", "REGION": "us-east-1", "ACCOUNT_ID": "1", "SOURCE_TABLE": "orders"},
		filepath.Join("..", "..", "deploy", "iam", "capture.json"))
	if err != nil {
		t.Fatal(err)
	}
	seg := "/bkt/pre/orders/changes/dt=2026-01-01/hour=00/s_1_2.parquet"
	req := func(method, target string, headers ...string) Call {
		r := httptest.NewRequest(method, target, nil)
		for i := 0; i+1 < len(headers); i += 2 {
			r.Header.Set(headers[i], headers[i+1])
		}
		return s3Call(r)
	}
	for _, tc := range []struct {
		call    Call
		allowed bool
	}{
		{req("PUT", seg, "If-None-Match", "*"), true},
		{req("PUT", seg, "If-None-Match", "*", "X-Amz-Object-Lock-Mode", "COMPLIANCE"), true},
		{req("PUT", seg), false}, // an overwrite
		{req("POST", seg+"?uploads", "X-Amz-Object-Lock-Mode", "COMPLIANCE"), true},
		{req("PUT", seg+"?partNumber=1&uploadId=u"), true},
		{req("POST", seg+"?uploadId=u", "If-None-Match", "*"), true},
		{req("POST", seg+"?uploadId=u"), false},
		{req("PUT", "/bkt/pre/orders/capture.lock"), true},
		{req("PUT", "/bkt/pre/orders/checkpoints/orders.json"), true},
		{req("PUT", "/bkt/pre/orders/retention.json"), false},
		{req("DELETE", seg), false},
		{req("DELETE", "/bkt/pre/orders/capture.lock"), false},
		{req("GET", seg), true},
		{req("HEAD", seg), true},
		{req("GET", "/bkt?list-type=2&prefix=pre/orders/changes/"), true},
		{req("GET", "/bkt?list-type=2&prefix=other/"), false},
		{req("GET", "/bkt?object-lock"), true},
		{req("GET", seg+"?retention"), false},
		{req("PUT", seg+"?retention"), false},
		{req("GET", seg+"?tagging"), false}, // unknown: never allowed
	} {
		denied, err := p.Denied([]Call{tc.call})
		if err != nil {
			t.Fatal(err)
		}
		if (len(denied) == 0) != tc.allowed {
			t.Errorf("%s: allowed %v, want %v", tc.call, len(denied) == 0, tc.allowed)
		}
	}
}
