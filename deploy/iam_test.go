// Package deploy holds the deployment files (Dockerfile, Kubernetes manifests, IAM
// policy, systemd unit, sample config); its tests check them against the code. The
// manifests and the unit are checked against the run command's flags in cmd/ddbtape.
package deploy

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
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

// Roles are the IAM policies of deploy/iam/, one per role (kms.json is added to any
// role whose destination uses SSE-KMS).
var roles = []string{"capture", "maintenance", "restore", "lease-table"}

func rolePath(role string) string { return filepath.Join("iam", role+".json") }

// readRoles reads every role's policy, by role.
func readRoles(t *testing.T) map[string]policy {
	t.Helper()
	out := map[string]policy{}
	for _, r := range roles {
		out[r] = readPolicy(t, rolePath(r))
	}
	return out
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

func policyActions(ps ...policy) map[string]bool {
	have := map[string]bool{}
	for _, p := range ps {
		for _, s := range p.Statement {
			for _, a := range s.Action {
				have[a] = true
			}
		}
	}
	return have
}

// compareActions returns one message per action the code needs and no role grants,
// and per action a role grants and no code calls.
func compareActions(need map[string][]string, have map[string]bool) []string {
	var msgs []string
	for a, why := range need {
		if !have[a] {
			msgs = append(msgs, "the code calls "+strings.Join(why, ", ")+" but no policy of deploy/iam/ allows "+a+": add it to the role that makes the call, scoped to its resource")
		}
	}
	for a := range have {
		if _, ok := need[a]; !ok {
			msgs = append(msgs, "a policy of deploy/iam/ allows "+a+" but no code calls it: remove it (least privilege)")
		}
	}
	sort.Strings(msgs)
	return msgs
}

// The roles together allow exactly what the binary can call; which role's commands call
// what is proven at run time (cmd/ddbtape, TestIAMRoles_EachCommandCallsOnlyWhatItsRoleAllows).
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
	var all []policy
	for _, p := range readRoles(t) {
		all = append(all, p)
	}
	for _, msg := range compareActions(neededActions(t, calls), policyActions(all...)) {
		t.Error(msg)
	}
}

// coordinationKeys are the objects a role may rewrite (PutObject without If-None-Match):
// small documents ddbtape rewrites in place, never backup data.
var coordinationKeys = []string{"checkpoints/*", "capture.lock", "locks/*", "verify.json", "snapshots/*/state/*", "retention.json"}

func TestIAMPolicy_IsScopedToPlaceholders(t *testing.T) {
	for role, p := range readRoles(t) {
		if p.Version != "2012-10-17" {
			t.Errorf("%s: Version %q, want 2012-10-17", role, p.Version)
		}
		sids := map[string]bool{}
		for _, s := range p.Statement {
			if s.Sid == "" || sids[s.Sid] {
				t.Errorf("%s: statement %+v: needs a Sid of its own", role, s)
			}
			sids[s.Sid] = true
			if s.Effect != "Allow" || len(s.Action) == 0 || len(s.Resource) == 0 {
				t.Errorf("%s: statement %s: want Effect Allow with actions and resources", role, s.Sid)
			}
			for _, a := range s.Action {
				if strings.Contains(a, "*") {
					t.Errorf("%s: statement %s: wildcard action %s", role, s.Sid, a)
				}
			}
			for _, r := range s.Resource {
				service := strings.SplitN(s.Action[0], ":", 2)[0]
				switch {
				case r == "*":
					t.Errorf("%s: statement %s: Resource * is not least privilege", role, s.Sid)
				case service == "dynamodb" && !strings.HasPrefix(r, "arn:aws:dynamodb:REGION:ACCOUNT_ID:table/"):
					t.Errorf("%s: statement %s: resource %s is not a table of REGION and ACCOUNT_ID", role, s.Sid, r)
				case service == "s3" && !strings.HasPrefix(r, "arn:aws:s3:::BACKUP_BUCKET"):
					t.Errorf("%s: statement %s: resource %s is not the BACKUP_BUCKET", role, s.Sid, r)
				}
				// Only the stream ARN (its label is a timestamp), an import's ARN (its id
				// is DynamoDB's), the objects under the prefix and the coordination
				// objects of each table are wildcards.
				coordination := false
				for _, k := range coordinationKeys {
					coordination = coordination || r == "arn:aws:s3:::BACKUP_BUCKET/BACKUP_PREFIX/*/"+k
				}
				// Restore logs are created once (If-None-Match), never rewritten.
				restoreLogs := r == "arn:aws:s3:::BACKUP_BUCKET/BACKUP_PREFIX/*/restores/*" &&
					reflect.DeepEqual(s.Condition, map[string]map[string]any{"Null": {"s3:if-none-match": "false"}})
				if strings.Contains(r, "*") && !strings.HasSuffix(r, "/stream/*") && !strings.HasSuffix(r, "/import/*") && r != "arn:aws:s3:::BACKUP_BUCKET/BACKUP_PREFIX/*" && !coordination && !restoreLogs {
					t.Errorf("%s: statement %s: resource %s has a wildcard", role, s.Sid, r)
				}
				if coordination && !reflect.DeepEqual(s.Action, []string{"s3:PutObject"}) {
					t.Errorf("%s: statement %s: a coordination object %s may only be rewritten (s3:PutObject), not %v", role, s.Sid, r, s.Action)
				}
			}
			for _, a := range s.Action {
				if a == "dynamodb:GetRecords" || a == "dynamodb:GetShardIterator" || a == "dynamodb:DescribeStream" {
					for _, r := range s.Resource {
						if !strings.HasSuffix(r, "/stream/*") {
							t.Errorf("%s: statement %s: stream action %s on non-stream resource %s", role, s.Sid, a, r)
						}
					}
				}
				if a == "s3:ListBucket" && !reflect.DeepEqual(s.Condition, map[string]map[string]any{"StringLike": {"s3:prefix": []any{"BACKUP_PREFIX/*"}}}) {
					t.Errorf("%s: statement %s: s3:ListBucket must be limited to the prefix, got condition %v", role, s.Sid, s.Condition)
				}
			}
		}
	}
	kms := readPolicy(t, filepath.Join("iam", "kms.json"))
	if got := policyActions(kms); !reflect.DeepEqual(got, map[string]bool{"kms:GenerateDataKey": true, "kms:Decrypt": true}) {
		t.Errorf("iam/kms.json allows %v, want what S3 needs for SSE-KMS: kms:GenerateDataKey and kms:Decrypt", got)
	}
}

// What each role must not do, read from the policies (the run-time test proves the
// commands need no more): capture writes backup objects only as new ones and deletes
// nothing; restore writes no backup object but its reader lock and its restore logs
// (created once), and no table but its target; maintenance reads no table; only
// maintenance deletes.
func TestIAMRoles_SeparateWhatEachRoleMayDo(t *testing.T) {
	ps := readRoles(t)
	const objects = "arn:aws:s3:::BACKUP_BUCKET/BACKUP_PREFIX/*"
	for role, p := range ps {
		for _, s := range p.Statement {
			for _, a := range s.Action {
				switch {
				case a == "s3:DeleteObject" && role != "maintenance":
					t.Errorf("%s: statement %s allows s3:DeleteObject: only the maintenance role deletes", role, s.Sid)
				case strings.HasPrefix(a, "dynamodb:") && role == "maintenance":
					t.Errorf("maintenance: statement %s allows %s: retention and compaction read no table", s.Sid, a)
				case role == "restore" && (a == "s3:PutObject" || a == "s3:PutObjectRetention") && !reflect.DeepEqual(s.Resource, []string{"arn:aws:s3:::BACKUP_BUCKET/BACKUP_PREFIX/*/locks/*"}) &&
					!(a == "s3:PutObject" && reflect.DeepEqual(s.Resource, []string{"arn:aws:s3:::BACKUP_BUCKET/BACKUP_PREFIX/*/restores/*"}) && reflect.DeepEqual(s.Condition, map[string]map[string]any{"Null": {"s3:if-none-match": "false"}})):
					t.Errorf("restore: statement %s writes %v: a restore writes no backup object but its reader lock and, once each, its restore logs", s.Sid, s.Resource)
				case role == "restore" && slices.Contains([]string{"dynamodb:CreateTable", "dynamodb:BatchWriteItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"}, a) &&
					!reflect.DeepEqual(s.Resource, []string{"arn:aws:dynamodb:REGION:ACCOUNT_ID:table/RESTORE_TARGET_TABLE"}):
					t.Errorf("restore: statement %s allows %s on %v: a restore writes only its target", s.Sid, a, s.Resource)
				case (a == "s3:PutObject" || a == "s3:PutObjectRetention") && slices.Contains(s.Resource, objects):
					// Any object under the prefix: only as a new one (If-None-Match), or a
					// part of an upload that completes only as a new one.
					ok := reflect.DeepEqual(s.Condition, map[string]map[string]any{"Null": {"s3:if-none-match": "false"}}) ||
						reflect.DeepEqual(s.Condition, map[string]map[string]any{"Bool": {"s3:ObjectCreationOperation": "false"}})
					if !ok {
						t.Errorf("%s: statement %s allows %s on every object without requiring If-None-Match: a backup object could be overwritten", role, s.Sid, a)
					}
				}
			}
		}
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
	var all []policy
	for _, p := range readRoles(t) {
		all = append(all, p)
	}
	msgs := compareActions(neededActions(t, calls), policyActions(all...))
	joined := strings.Join(msgs, "\n")
	for _, missing := range []string{"dynamodb:UpdateTable", "dynamodb:ListTables"} {
		if !strings.Contains(joined, "allows "+missing+": add it") {
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
