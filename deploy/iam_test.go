// Package deploy holds the deployment files (Dockerfile, Kubernetes manifests, IAM
// policy, systemd unit, sample config); its tests check them against the code. The
// manifests and the unit are checked against the run command's flags in cmd/ddbtape.
package deploy

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
)

// policy is an IAM policy document; Action and Resource are lists in our files.
type policy struct {
	Version   string
	Statement []struct {
		Sid       string
		Effect    string
		Action    []string
		Resource  []string
		Condition map[string]map[string]any `json:",omitempty"`
	}
}

func readPolicy(t *testing.T, name string) policy {
	t.Helper()
	data, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	var p policy
	if err := dec.Decode(&p); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return p
}

// neededActions maps the scanned calls to IAM actions.
func neededActions(t *testing.T, calls []apiCall) map[string][]string {
	t.Helper()
	need := map[string][]string{} // action -> the calls needing it
	for _, c := range calls {
		actions, err := iamActions(c)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range actions {
			need[a] = append(need[a], c.service+"."+c.op+" at "+c.at)
		}
	}
	return need
}

func policyActions(p policy) map[string]bool {
	have := map[string]bool{}
	for _, s := range p.Statement {
		for _, a := range s.Action {
			have[a] = true
		}
	}
	return have
}

// compareActions returns one message per action the code needs and the policy lacks,
// and per action the policy grants and no code calls.
func compareActions(need map[string][]string, have map[string]bool) []string {
	var msgs []string
	for a, why := range need {
		if !have[a] {
			msgs = append(msgs, "the code calls "+strings.Join(why, ", ")+" but deploy/iam-policy.json does not allow "+a+": add it, scoped to its resource")
		}
	}
	for a := range have {
		if _, ok := need[a]; !ok {
			msgs = append(msgs, "deploy/iam-policy.json allows "+a+" but no code calls it: remove it (least privilege)")
		}
	}
	sort.Strings(msgs)
	return msgs
}

func TestIAMPolicy_AllowsExactlyTheCallsTheBinaryMakes(t *testing.T) {
	root, module, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	calls, err := scanAPICalls(root, module, "cmd/ddbtape")
	if err != nil {
		t.Fatal(err)
	}
	if len(calls) < 10 {
		t.Fatalf("the scan found only %v: it no longer sees the code's calls", calls)
	}
	for _, msg := range compareActions(neededActions(t, calls), policyActions(readPolicy(t, "iam-policy.json"))) {
		t.Error(msg)
	}
}

func TestIAMPolicy_IsScopedToPlaceholders(t *testing.T) {
	p := readPolicy(t, "iam-policy.json")
	if p.Version != "2012-10-17" {
		t.Errorf("Version %q, want 2012-10-17", p.Version)
	}
	sids := map[string]bool{}
	for _, s := range p.Statement {
		if s.Sid == "" || sids[s.Sid] {
			t.Errorf("statement %+v: needs a Sid of its own", s)
		}
		sids[s.Sid] = true
		if s.Effect != "Allow" || len(s.Action) == 0 || len(s.Resource) == 0 {
			t.Errorf("statement %s: want Effect Allow with actions and resources", s.Sid)
		}
		for _, a := range s.Action {
			if strings.Contains(a, "*") {
				t.Errorf("statement %s: wildcard action %s", s.Sid, a)
			}
		}
		for _, r := range s.Resource {
			service := strings.SplitN(s.Action[0], ":", 2)[0]
			switch {
			case r == "*":
				t.Errorf("statement %s: Resource * is not least privilege", s.Sid)
			case service == "dynamodb" && !strings.HasPrefix(r, "arn:aws:dynamodb:REGION:ACCOUNT_ID:table/"):
				t.Errorf("statement %s: resource %s is not a table of REGION and ACCOUNT_ID", s.Sid, r)
			case service == "s3" && !strings.HasPrefix(r, "arn:aws:s3:::BACKUP_BUCKET"):
				t.Errorf("statement %s: resource %s is not the BACKUP_BUCKET", s.Sid, r)
			}
			// Only the stream ARN (its label is a timestamp) and the objects under the
			// prefix are wildcards.
			if strings.Contains(r, "*") && !strings.HasSuffix(r, "/stream/*") && r != "arn:aws:s3:::BACKUP_BUCKET/BACKUP_PREFIX/*" {
				t.Errorf("statement %s: resource %s has a wildcard", s.Sid, r)
			}
		}
		for _, a := range s.Action {
			if a == "dynamodb:GetRecords" || a == "dynamodb:GetShardIterator" || a == "dynamodb:DescribeStream" {
				for _, r := range s.Resource {
					if !strings.HasSuffix(r, "/stream/*") {
						t.Errorf("statement %s: stream action %s on non-stream resource %s", s.Sid, a, r)
					}
				}
			}
			if a == "s3:ListBucket" && !reflect.DeepEqual(s.Condition, map[string]map[string]any{"StringLike": {"s3:prefix": []any{"BACKUP_PREFIX/*"}}}) {
				t.Errorf("statement %s: s3:ListBucket must be limited to the prefix, got condition %v", s.Sid, s.Condition)
			}
		}
	}
	kms := readPolicy(t, "iam-policy-kms.json")
	if got := policyActions(kms); !reflect.DeepEqual(got, map[string]bool{"kms:GenerateDataKey": true, "kms:Decrypt": true}) {
		t.Errorf("iam-policy-kms.json allows %v, want what S3 needs for SSE-KMS: kms:GenerateDataKey and kms:Decrypt", got)
	}
}

// The scanner must see each way code reaches the SDK, and a call missing from the policy
// must fail the comparison: the fixture module calls UpdateTable, ListTables,
// HeadObject and the transfer manager.
func TestScanAPICalls_FindsNewCallsAndTheComparisonFails(t *testing.T) {
	root, err := filepath.Abs(filepath.Join("testdata", "apiscan"))
	if err != nil {
		t.Fatal(err)
	}
	calls, err := scanAPICalls(root, "example.com/fake", "cmd/tool")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range calls {
		got = append(got, c.service+"."+c.op)
	}
	want := []string{
		"dynamodb.ListTables", "dynamodb.UpdateTable",
		"s3.AbortMultipartUpload", "s3.CompleteMultipartUpload", "s3.CreateMultipartUpload",
		"s3.HeadObject", "s3.PutObject", "s3.UploadPart",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("scanned %v\nwant    %v (test files and unlinked packages excluded)", got, want)
	}
	msgs := compareActions(neededActions(t, calls), policyActions(readPolicy(t, "iam-policy.json")))
	joined := strings.Join(msgs, "\n")
	for _, missing := range []string{"dynamodb:UpdateTable", "dynamodb:ListTables"} {
		if !strings.Contains(joined, "does not allow "+missing) {
			t.Errorf("comparison did not report the missing %s:\n%s", missing, joined)
		}
	}
	if !strings.Contains(joined, "allows dynamodb:GetRecords but no code calls it") {
		t.Errorf("comparison did not report an unneeded action:\n%s", joined)
	}
}

func TestIAMActions_RefusesAnUnmappedS3Operation(t *testing.T) {
	if _, err := iamActions(apiCall{service: "s3", op: "PutBucketPolicy", at: "x.go:1"}); err == nil {
		t.Error("an S3 operation without a mapping was given actions")
	}
	if a, err := iamActions(apiCall{service: "dynamodbstreams", op: "GetRecords"}); err != nil || !reflect.DeepEqual(a, []string{"dynamodb:GetRecords"}) {
		t.Errorf("Streams GetRecords maps to %v, %v; want dynamodb:GetRecords", a, err)
	}
}
