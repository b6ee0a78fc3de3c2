package connect

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/ddbtape/ddbtape/storage"
	s3store "github.com/ddbtape/ddbtape/storage/s3"
)

func isSetting(err error) bool {
	var s *SettingError
	return errors.As(err, &s)
}

func TestStorage_WrongSettingsAreTheUsers(t *testing.T) {
	for _, s := range []Storage{
		{SSE: "rot13"},
		{SSEKMSKeyID: "key"},
		{Lock: s3store.Lock{Mode: storage.LockGovernance}},
	} {
		if err := s.Validate(); !isSetting(err) {
			t.Errorf("%+v: %v, want a SettingError", s, err)
		}
	}
	if err := (&Storage{SSE: "aws:kms", SSEKMSKeyID: "key"}).Validate(); err != nil {
		t.Error(err)
	}
	dir := filepath.Join(t.TempDir(), "backup")
	locked := Storage{Lock: s3store.Lock{Mode: storage.LockGovernance, For: time.Hour}}
	if _, err := locked.Bucket(context.Background(), aws.Config{}, dir); !isSetting(err) {
		t.Errorf("a lock on a directory: %v, want a SettingError", err)
	}
	if _, err := (&Storage{}).Bucket(context.Background(), aws.Config{}, "ftp://x"); !isSetting(err) {
		t.Errorf("an unknown scheme: %v, want a SettingError", err)
	}
}

func TestStorage_CheckpointsDefaultToBesideTheData(t *testing.T) {
	ctx := context.Background()
	s := &Storage{}
	b, err := s.Bucket(ctx, aws.Config{}, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cps, err := s.Checkpoints(ctx, aws.Config{}, "", b, "orders")
	if err != nil {
		t.Fatal(err)
	}
	if st, err := cps.Load(ctx, "orders"); err != nil || len(st.Shards) != 0 {
		t.Errorf("a new backup's checkpoints: %+v, %v", st, err)
	}
}

func TestFleet_ValidatesOnlyDynamoDBURLs(t *testing.T) {
	f := Fleet{App: "default", LeaseDuration: 10 * time.Second}
	if err := f.Validate("s3://bucket/cp"); err != nil {
		t.Errorf("an s3 URL is not the fleet's to check: %v", err)
	}
	if !IsDynamoDB("dynamodb://ckpt") || IsDynamoDB("/tmp/x") {
		t.Error("IsDynamoDB")
	}
	for _, c := range []struct {
		f   Fleet
		url string
	}{
		{f, "dynamodb://x"},
		{Fleet{App: "default", LeaseDuration: time.Second}, "dynamodb://ckpt"},
		{Fleet{App: "bad name!", LeaseDuration: 10 * time.Second}, "dynamodb://ckpt"},
	} {
		if err := c.f.Validate(c.url); !isSetting(err) {
			t.Errorf("%+v %s: %v, want a SettingError", c.f, c.url, err)
		}
	}
	if err := f.Validate("dynamodb://ckpt"); err != nil {
		t.Error(err)
	}
	if w := (Fleet{WorkerID: "w1"}).Worker(); w != "w1" {
		t.Errorf("Worker = %s", w)
	}
}
