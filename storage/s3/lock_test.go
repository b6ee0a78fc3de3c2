package s3_test

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/ddbtape/ddbtape/internal/s3local"
	"github.com/ddbtape/ddbtape/storage"
	"github.com/ddbtape/ddbtape/storage/s3"
)

func sealed(t *testing.T, data []byte) (*storage.SealedReader, string) {
	t.Helper()
	sum, _, err := storage.HashReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	return storage.Sealed(bytes.NewReader(data), sum), sum
}

func b64(t *testing.T, hexSum string) string {
	raw, err := hex.DecodeString(hexSum)
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(raw)
}

// A sealed Create into a locked bucket stores the object with its SHA-256 as S3's
// additional checksum and under the retention asked for, in one PutObject and in a
// multipart upload; its delete and overwrite are refused (ErrLocked, ErrExists) while
// unsealed objects are written, rewritten and deleted as usual.
func TestBucket_SealedCreateIsLockedAndKeepsItsChecksumOnVersitygw(t *testing.T) {
	srv := s3local.Shared(t)
	name := srv.NewLockedBucket(t)
	c := client(t, srv.Endpoint)
	b := s3.New(c, name, "pre/", s3.Options{PartSize: s3.MinPartSize, Lock: s3.Lock{Mode: storage.LockCompliance, For: time.Hour}})
	ctx := t.Context()
	if err := b.CheckLock(ctx); err != nil {
		t.Fatalf("CheckLock on a bucket with Object Lock: %v", err)
	}
	for _, size := range []int{1000, s3.MinPartSize + 10} {
		data := randomBytes(t, size)
		body, sum := sealed(t, data)
		key := "t/changes/seg-" + time.Now().Format("150405.000000")
		start := time.Now()
		if err := b.Create(ctx, key, body); err != nil {
			t.Fatalf("sealed Create of %d bytes: %v", size, err)
		}
		r, err := storage.RetentionOf(ctx, storage.Sub(b, "t/"), strings.TrimPrefix(key, "t/"))
		if err != nil || r.Mode != storage.LockCompliance || r.Until.Before(start.Add(time.Hour)) || r.Until.After(start.Add(time.Hour+5*time.Second)) {
			t.Errorf("%d bytes: retention = %+v, %v; want COMPLIANCE until about an hour after the write", size, r, err)
		}
		if size < s3.MinPartSize {
			head, err := c.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: aws.String(name), Key: aws.String("pre/" + key), ChecksumMode: types.ChecksumModeEnabled})
			if err != nil || aws.ToString(head.ChecksumSHA256) != b64(t, sum) {
				t.Errorf("stored checksum = %q, %v; want the seal %s", aws.ToString(head.ChecksumSHA256), err, b64(t, sum))
			}
		}
		if err := b.Delete(ctx, key); !errors.Is(err, storage.ErrLocked) {
			t.Errorf("%d bytes: Delete of a locked object = %v, want ErrLocked", size, err)
		}
		again, _ := sealed(t, data)
		if err := b.Create(ctx, key, again); !errors.Is(err, storage.ErrExists) {
			t.Errorf("%d bytes: Create over a locked object = %v, want ErrExists", size, err)
		}
		if err := b.Put(ctx, key, strings.NewReader("overwrite")); err == nil {
			t.Errorf("%d bytes: Put over a locked object succeeded", size)
		}
		if got := read(t, b, key); !bytes.Equal(got, data) {
			t.Errorf("%d bytes: the locked object changed", size)
		}
	}
	if n := pendingUploads(t, name); n != 0 {
		t.Errorf("%d multipart uploads left pending", n)
	}

	// Coordination objects carry no retention: rewritten and deleted by their owners.
	if err := b.Create(ctx, "t/capture.lock", strings.NewReader("a")); err != nil {
		t.Fatal(err)
	}
	if r, err := b.Retention(ctx, "t/capture.lock"); err != nil || r != (storage.Retention{}) {
		t.Errorf("retention of an unsealed object = %+v, %v; want none", r, err)
	}
	if err := b.Put(ctx, "t/capture.lock", strings.NewReader("b")); err != nil {
		t.Errorf("Put over an unsealed object: %v", err)
	}
	if err := b.Delete(ctx, "t/capture.lock"); err != nil {
		t.Errorf("Delete of an unsealed object: %v", err)
	}
	if _, err := b.Retention(ctx, "t/missing"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Retention of a missing key = %v, want ErrNotFound", err)
	}
}

func TestBucket_CheckLockRefusesABucketWithoutObjectLock(t *testing.T) {
	b, name := newBucket(t, "", s3.Options{Lock: s3.Lock{Mode: storage.LockGovernance, For: time.Hour}})
	err := b.CheckLock(t.Context())
	if !errors.Is(err, s3.ErrNoObjectLock) || !strings.Contains(err.Error(), "s3://"+name) || strings.Contains(err.Error(), "\n") {
		t.Fatalf("CheckLock = %v, want one line naming s3://%s, wrapping ErrNoObjectLock", err, name)
	}
	if r, err := b.Retention(t.Context(), "anything"); err != nil || r != (storage.Retention{}) {
		t.Errorf("Retention in a bucket without Object Lock = %+v, %v; want none", r, err)
	}
	unlocked, _ := newBucket(t, "", s3.Options{})
	if err := unlocked.CheckLock(t.Context()); err != nil {
		t.Errorf("CheckLock without a lock asked for = %v", err)
	}
}

// A multipart body that differs from its seal is aborted before it appears.
func TestBucket_SealedMultipartThatDiffersFromItsSealIsAborted(t *testing.T) {
	b, name := newBucket(t, "", s3.Options{PartSize: s3.MinPartSize})
	data := randomBytes(t, 2*s3.MinPartSize+3)
	_, sum := sealed(t, data)
	data[len(data)-1] ^= 1
	err := b.Create(t.Context(), "big", storage.Sealed(bytes.NewReader(data), sum))
	if !errors.Is(err, storage.ErrChecksum) {
		t.Fatalf("Create = %v, want ErrChecksum", err)
	}
	if _, err := b.Open(t.Context(), "big"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Open after the refused upload = %v, want ErrNotFound", err)
	}
	if n := pendingUploads(t, name); n != 0 {
		t.Errorf("%d multipart uploads left pending", n)
	}
}

func TestLock_ValidateAndParseMode(t *testing.T) {
	for _, tt := range []struct {
		lock s3.Lock
		ok   bool
	}{
		{s3.Lock{}, true},
		{s3.Lock{Mode: storage.LockCompliance, For: time.Hour}, true},
		{s3.Lock{Mode: storage.LockGovernance}, false},
		{s3.Lock{For: time.Hour}, false},
		{s3.Lock{Mode: "LEGAL", For: time.Hour}, false},
	} {
		if err := tt.lock.Validate(); (err == nil) != tt.ok {
			t.Errorf("%+v.Validate() = %v", tt.lock, err)
		}
	}
	for in, want := range map[string]string{"governance": storage.LockGovernance, "COMPLIANCE": storage.LockCompliance, "": ""} {
		if got, err := s3.ParseLockMode(in); err != nil || got != want {
			t.Errorf("ParseLockMode(%q) = %q, %v", in, got, err)
		}
	}
	if _, err := s3.ParseLockMode("legal-hold"); err == nil {
		t.Error("ParseLockMode accepted legal-hold")
	}
}
