package s3

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
)

// The destination's credentials come from its own profile (whatever the environment
// holds for the table), or from a role assumed with them; the zero Credentials keep the
// table's.
func TestCredentials_ConfigUsesTheDestinationsProfileOrRole(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "config")
	if err := os.WriteFile(conf, []byte("[profile backup]\nregion = eu-central-1\naws_access_key_id = BACKUPKEY\naws_secret_access_key = backupsecret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_CONFIG_FILE", conf)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "none"))
	t.Setenv("AWS_ACCESS_KEY_ID", "TABLEKEY")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "tablesecret")
	base := aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("TABLEKEY", "tablesecret", "")}

	same, err := Credentials{}.Config(t.Context(), base)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := same.Credentials.Retrieve(t.Context()); v.AccessKeyID != "TABLEKEY" || same.Region != "us-east-1" {
		t.Fatalf("zero Credentials changed the config: key %q region %q", v.AccessKeyID, same.Region)
	}
	cfg, err := Credentials{Profile: "backup"}.Config(t.Context(), base)
	if err != nil {
		t.Fatal(err)
	}
	v, err := cfg.Credentials.Retrieve(t.Context())
	if err != nil || v.AccessKeyID != "BACKUPKEY" || cfg.Region != "eu-central-1" {
		t.Errorf("profile backup: key %q region %q (%v); want BACKUPKEY in eu-central-1, not the environment's", v.AccessKeyID, cfg.Region, err)
	}
	cfg, err = Credentials{RoleARN: "arn:aws:iam::222222222222:role/ddbtape-capture"}.Config(t.Context(), base)
	if err != nil {
		t.Fatal(err)
	}
	cache, ok := cfg.Credentials.(*aws.CredentialsCache)
	if !ok || !cache.IsCredentialsProvider(&stscreds.AssumeRoleProvider{}) {
		t.Errorf("with a role the credentials are %T, want an assumed role's", cfg.Credentials)
	}
	if _, err := (Credentials{Profile: "nope"}).Config(t.Context(), base); err == nil {
		t.Error("an unknown profile was accepted")
	}
}
