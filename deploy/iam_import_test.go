package deploy

import (
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// iam/restore-import.json goes beside restore.json for restore --to-s3 and --via import:
// it reaches only the restore's own prefix in a bucket of its own (the backup stays read
// only), creates files only as new ones, deletes only there (an interrupted restore's
// files), and lets Import write its CloudWatch log.
func TestIAMPolicy_RestoreImportReachesOnlyItsOwnPrefix(t *testing.T) {
	p := readPolicy(t, filepath.Join("iam", "restore-import.json"))
	const files = "arn:aws:s3:::RESTORE_BUCKET/RESTORE_PREFIX/*"
	want := map[string]bool{"s3:ListBucket": true, "s3:GetObject": true, "s3:PutObject": true, "s3:DeleteObject": true, "s3:AbortMultipartUpload": true,
		"logs:CreateLogGroup": true, "logs:CreateLogStream": true, "logs:DescribeLogGroups": true, "logs:DescribeLogStreams": true, "logs:PutLogEvents": true, "logs:PutRetentionPolicy": true}
	if got := policyActions(p); !reflect.DeepEqual(got, want) {
		t.Errorf("iam/restore-import.json allows %v, want %v", got, want)
	}
	for _, s := range p.Statement {
		if s.Sid == "" || s.Effect != "Allow" {
			t.Errorf("statement %+v: want a Sid and Effect Allow", s)
		}
		for _, r := range s.Resource {
			switch {
			case strings.Contains(r, "BACKUP_BUCKET"):
				t.Errorf("statement %s reaches the backup (%s): the restore role reads it, this policy must not", s.Sid, r)
			case strings.HasPrefix(r, "arn:aws:s3:::") && r != files && r != "arn:aws:s3:::RESTORE_BUCKET":
				t.Errorf("statement %s: resource %s is not the restore's prefix", s.Sid, r)
			case strings.HasPrefix(r, "arn:aws:logs:") && r != "arn:aws:logs:REGION:ACCOUNT_ID:log-group:/aws-dynamodb/*":
				t.Errorf("statement %s: resource %s is not Import's log group", s.Sid, r)
			}
		}
		for _, a := range s.Action {
			switch {
			case a == "s3:ListBucket" && !reflect.DeepEqual(s.Condition, map[string]map[string]any{"StringLike": {"s3:prefix": []any{"RESTORE_PREFIX/*"}}}):
				t.Errorf("statement %s: s3:ListBucket must be limited to RESTORE_PREFIX, got %v", s.Sid, s.Condition)
			case a == "s3:PutObject" && !reflect.DeepEqual(s.Condition, map[string]map[string]any{"Null": {"s3:if-none-match": "false"}}) &&
				!reflect.DeepEqual(s.Condition, map[string]map[string]any{"Bool": {"s3:ObjectCreationOperation": "false"}}):
				t.Errorf("statement %s allows s3:PutObject without If-None-Match: a finished restore's files could be overwritten", s.Sid)
			}
		}
	}
}
