package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ddbtape/ddbtape/internal/ddblocal"
	"github.com/ddbtape/ddbtape/internal/s3local"
	"github.com/ddbtape/ddbtape/internal/workload"
)

// TestCrossAccount_TheDestinationUsesCredentialsOfItsOwn captures into versitygw with
// --s3-profile while the environment's credentials (the table's account: DynamoDB Local
// takes any) are refused by the bucket: the backup is written only through the profile's,
// as a backup in another account is, and a restore reads it the same way. Without the
// profile the bucket refuses the table's credentials, in one line.
func TestCrossAccount_TheDestinationUsesCredentialsOfItsOwn(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	srv := ownVersitygw(ctx, t)
	bucket := srv.NewBucket(t)
	dest := "s3://" + bucket + "/other-account/"
	conf := filepath.Join(t.TempDir(), "config")
	if err := os.WriteFile(conf, []byte("[profile backup]\nregion = "+s3local.Region+"\naws_access_key_id = "+s3local.AccessKeyID+
		"\naws_secret_access_key = "+s3local.SecretAccessKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// The table's account: credentials the bucket does not know.
	env := append(srv.Env(), "AWS_ACCESS_KEY_ID=TABLEACCOUNT", "AWS_SECRET_ACCESS_KEY=table-secret",
		"AWS_CONFIG_FILE="+conf, "AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(t.TempDir(), "none"))

	inst := ddblocal.Shared(t)
	db := inst.DynamoDB()
	table := ddblocal.CreateTable(t, db, ddblocal.TableOptions{NamePrefix: "xacct"})
	w := workload.New(db, table, 9, 20)
	if err := w.Run(ctx, 30); err != nil {
		t.Fatal(err)
	}
	capture := []string{"capture", "--table", table, "--dest", dest, "--endpoint-url", inst.Endpoint, "--until-idle", "2s", "--poll-interval", "200ms"}
	r := ddbtape(ctx, t, env, capture...)
	if r.code != 1 || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
		t.Fatalf("capture with the table's credentials into the other account's bucket: exit %d, want 1 with one line:\n%s", r.code, r.stderr)
	}
	t.Logf("without --s3-profile: %s", strings.TrimSpace(r.stderr))
	if r := ddbtape(ctx, t, env, append(capture, "--s3-profile", "backup")...); r.code != 0 {
		t.Fatalf("capture with --s3-profile: exit %d: %s", r.code, r.stderr)
	}
	if r := ddbtape(ctx, t, env, "snapshot", "--table", table, "--dest", dest, "--endpoint-url", inst.Endpoint, "--s3-profile", "backup"); r.code != 0 {
		t.Fatalf("snapshot with --s3-profile: exit %d: %s", r.code, r.stderr)
	}
	if keys := s3Keys(ctx, t, srv.Client(), bucket, "other-account/"+table+"/changes/"); len(keys) == 0 {
		t.Fatal("no segment in the other account's bucket")
	}
	r = ddbtape(ctx, t, env, "status", "--source", dest, "--table", table, "--s3-profile", "backup")
	if r.code != 0 || !strings.Contains(r.stdout, "object lock: none") {
		t.Errorf("status with --s3-profile: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}
