package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/ddbtape/ddbtape/ddbjson"
	"github.com/ddbtape/ddbtape/internal/ddblocal"
	"github.com/ddbtape/ddbtape/internal/iamcheck"
	"github.com/ddbtape/ddbtape/internal/workload"
)

// TestIAMRoles_EachCommandCallsOnlyWhatItsRoleAllows runs every command against DynamoDB
// Local and a versitygw bucket with Object Lock, each through a proxy that records its
// requests as IAM would authorize them, and checks them against the policy of the role
// deploy/README.md gives the command (deploy/iam/): capture and snapshot with the capture
// role (objects created only with If-None-Match, no delete), compact and retention with
// the maintenance role, restore (also guarded into the existing target), history, status
// and verify with the restore role (writing only the target table and a reader lock; with
// restore-import.json beside it, Import-from-S3 files in a bucket of their own), and a
// fleet's capture with the lease table's role
// beside the capture role. Locks are on (governance, an hour), so the retention calls of
// the writes and the reads of locks are in what is checked.
func TestIAMRoles_EachCommandCallsOnlyWhatItsRoleAllows(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	srv := ownVersitygw(ctx, t)
	bucket := srv.NewLockedBucket(t)
	dest := "s3://" + bucket + "/backups/"
	restoreBucket := srv.NewBucket(t)

	inst := ddblocal.Shared(t)
	db := inst.DynamoDB()
	table := ddblocal.CreateTable(t, db, ddblocal.TableOptions{NamePrefix: "iam-roles"})
	w := workload.New(db, table, 17, 60)
	if err := w.Run(ctx, 80); err != nil {
		t.Fatal(err)
	}
	target := table + "-restored"
	leases := fmt.Sprintf("iam-leases-%d", time.Now().UnixNano())
	vars := map[string]string{
		"REGION": "*", "ACCOUNT_ID": "*", "SOURCE_TABLE": table, "RESTORE_TARGET_TABLE": target, "CHECKPOINT_TABLE": leases,
		"BACKUP_BUCKET": bucket, "BACKUP_PREFIX": "backups", "RESTORE_BUCKET": restoreBucket, "RESTORE_PREFIX": "restores",
	}
	policy := func(roles ...string) iamcheck.Policy {
		var paths []string
		for _, r := range roles {
			paths = append(paths, filepath.Join("..", "..", "deploy", "iam", r+".json"))
		}
		p, err := iamcheck.Load(vars, paths...)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	lock := []string{"--object-lock-mode", "governance", "--object-lock-for", "1h"}
	// run runs one command through a recorder of its own and checks its calls.
	run := func(roles []string, args ...string) []iamcheck.Call {
		t.Helper()
		rec, err := iamcheck.NewRecorder(inst.Endpoint, srv.Endpoint, "us-east-1", "000000000000")
		if err != nil {
			t.Fatal(err)
		}
		defer rec.Close()
		args = append(args, "--endpoint-url", rec.URL())
		res := ddbtape(ctx, t, append(srv.Env(), "AWS_ENDPOINT_URL_S3="+rec.URL()), args...)
		if res.code != 0 {
			t.Fatalf("%s: exit %d:\n%s%s", strings.Join(args, " "), res.code, res.stdout, res.stderr)
		}
		calls := rec.Calls()
		if len(calls) == 0 {
			t.Fatalf("%s: no call went through the recorder", args[0])
		}
		denied, err := policy(roles...).Denied(calls)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range denied {
			t.Errorf("%s with the %s role: %s is not allowed", args[0], strings.Join(roles, " and "), c)
		}
		t.Logf("%s (%s role): %d calls, %d outside the policy", args[0], strings.Join(roles, " and "), len(calls), len(denied))
		return calls
	}
	capture := append([]string{"capture", "--table", table, "--dest", dest, "--until-idle", "3s", "--poll-interval", "200ms"}, lock...)

	run([]string{"capture"}, capture...)
	run([]string{"capture"}, append([]string{"snapshot", "--table", table, "--dest", dest}, lock...)...)
	if err := w.Run(ctx, 40); err != nil {
		t.Fatal(err)
	}
	run([]string{"capture"}, capture...)
	run([]string{"maintenance"}, append([]string{"compact", "--source", dest, "--table", table}, lock...)...)
	retained := run([]string{"maintenance"}, append([]string{"retention", "--source", dest, "--table", table, "--keep", "1s"}, lock...)...)
	// The check is not vacuous: the capture role may not do what retention does.
	if denied, err := policy("capture").Denied(retained); err != nil || len(denied) == 0 {
		t.Errorf("retention's calls are all allowed to the capture role (%v): the roles are not separate", err)
	}
	run([]string{"restore"}, "status", "--source", dest, "--table", table)
	run([]string{"restore"}, "verify", "--objects", "--source", dest, "--table", table)
	run([]string{"restore"}, "verify", "--source", dest, "--table", table)
	run([]string{"restore"}, "restore", "--source", dest, "--table", table, "--at", "latest", "--to-file", filepath.Join(t.TempDir(), "r.json"))
	run([]string{"restore"}, "restore", "--source", dest, "--table", table, "--at", "latest", "--to-table", target, "--create")
	// Into the existing target, after someone changed it: guarded writes (an update, a
	// delete), and history, with the restore role too.
	live := w.Snapshot()
	var someKey string
	for k := range live {
		someKey = k
		break
	}
	changed := strings.TrimSuffix(live[someKey], "}") + `,"tampered":{"S":"yes"}}`
	extra := `{"pk":{"S":"iam#extra"},"sk":{"S":"x"}}`
	for _, item := range []string{changed, extra} {
		av, err := ddbjson.ToDynamoDB(item)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(target), Item: av}); err != nil {
			t.Fatal(err)
		}
	}
	run([]string{"restore"}, "restore", "--source", dest, "--table", table, "--at", "latest", "--to-table", target, "--yes")
	run([]string{"restore"}, "history", "--source", dest, "--table", table, "--key", someKey)
	// Import-from-S3 files, with the policy for the restore's own bucket beside the role's;
	// again with --force, which replaces them.
	toS3 := []string{"restore", "--source", dest, "--table", table, "--at", "latest", "--to-s3", "s3://" + restoreBucket + "/restores/orders-1/"}
	run([]string{"restore", "restore-import"}, toS3...)
	replaced := run([]string{"restore", "restore-import"}, append(toS3, "--force")...)
	if denied, err := policy("restore").Denied(replaced); err != nil || len(denied) == 0 {
		t.Errorf("restore --to-s3's calls are all allowed to the restore role alone (%v): restore-import.json is not what allows them", err)
	}
	run([]string{"capture", "lease-table"}, append(capture, "--checkpoint", "dynamodb://"+leases, "--create-checkpoint-table")...)
}
