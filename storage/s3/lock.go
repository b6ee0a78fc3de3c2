package s3

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/ddbtape/ddbtape/storage"
)

// Object Lock
//
// With Options.Lock set, Create stores every sealed body (storage.Sealed: segments,
// snapshot parts and manifests, ledger objects) with x-amz-object-lock-mode and a
// retain-until date Lock.For after the write, so that nobody (COMPLIANCE) or nobody
// without s3:BypassGovernanceRetention (GOVERNANCE) can delete or overwrite it before
// then. Unsealed objects (checkpoints, locks, markers, reports: rewritten in place or
// deleted by their owner) carry no retention. S3 keeps versions in a bucket with Object
// Lock, so rewriting or deleting them leaves noncurrent versions, which a lifecycle rule
// expires (deploy/README.md); a store without versions (versitygw) rewrites them in place.
//
// Two answers change under a lock. A conditional Create of a key that holds a locked
// object is refused by versitygw with 403 (the lock is checked before If-None-Match);
// HeadObject then tells that the object exists, which is what 412 would have said. And a
// Delete of a locked object is refused with 403 there (storage.ErrLocked), while S3 itself
// adds a delete marker and keeps the locked version.

var _ storage.Locker = (*Bucket)(nil)

// ErrNoObjectLock is returned (wrapped) by CheckLock when the bucket cannot lock objects.
var ErrNoObjectLock = errors.New("the bucket does not have S3 Object Lock enabled")

// Lock is the retention Create gives sealed objects. The zero Lock is none.
type Lock struct {
	// Mode is storage.LockGovernance or storage.LockCompliance; empty: no retention.
	Mode string
	// For is how long after its write an object stays locked.
	For time.Duration
}

// Validate reports a mode S3 does not know, or a mode without a positive period.
func (l Lock) Validate() error {
	switch l.Mode {
	case "":
		if l.For != 0 {
			return fmt.Errorf("an object lock period (%s) needs a mode: governance or compliance", l.For)
		}
		return nil
	case storage.LockGovernance, storage.LockCompliance:
	default:
		return fmt.Errorf("unknown object lock mode %q: use governance or compliance", l.Mode)
	}
	if l.For <= 0 {
		return fmt.Errorf("object lock mode %s needs a positive period, got %s", strings.ToLower(l.Mode), l.For)
	}
	return nil
}

// ParseLockMode reads "governance" or "compliance" (any case) into S3's spelling; ""
// stays "".
func ParseLockMode(s string) (string, error) {
	switch strings.ToUpper(strings.TrimSpace(s)) {
	case "":
		return "", nil
	case storage.LockGovernance:
		return storage.LockGovernance, nil
	case storage.LockCompliance:
		return storage.LockCompliance, nil
	}
	return "", fmt.Errorf("unknown object lock mode %q: use governance or compliance", s)
}

// WriteLock is the retention Create gives sealed objects.
func (b *Bucket) WriteLock() Lock { return b.opts.Lock }

// CheckLock refuses a bucket without Object Lock when Options.Lock asks for a retention,
// so a backup that must be immutable fails at start instead of being written unlocked.
func (b *Bucket) CheckLock(ctx context.Context) error {
	if b.opts.Lock.Mode == "" {
		return nil
	}
	cfg, err := b.LockConfig(ctx)
	if err != nil {
		return err
	}
	if !cfg.Enabled {
		return fmt.Errorf("s3://%s: %w, so ddbtape cannot lock what it writes there: enable Object Lock on the bucket (S3 needs versioning on first) or write to one that has it, or ask for no object lock",
			b.bucket, ErrNoObjectLock)
	}
	return nil
}

// LockConfig reads the bucket's Object Lock configuration once; a bucket without one is
// Enabled false.
func (b *Bucket) LockConfig(ctx context.Context) (storage.LockConfig, error) {
	b.lockMu.Lock()
	defer b.lockMu.Unlock()
	if b.lockCfg != nil {
		return *b.lockCfg, nil
	}
	out, err := b.client.GetObjectLockConfiguration(ctx, &awss3.GetObjectLockConfigurationInput{Bucket: aws.String(b.bucket)})
	var cfg storage.LockConfig
	switch {
	case err != nil && apiCode(err) == "ObjectLockConfigurationNotFoundError":
	case err != nil:
		return storage.LockConfig{}, fmt.Errorf("read the Object Lock configuration of s3://%s: %w", b.bucket, explain(b.bucket, err))
	case out.ObjectLockConfiguration != nil:
		c := out.ObjectLockConfiguration
		cfg.Enabled = c.ObjectLockEnabled == types.ObjectLockEnabledEnabled
		if c.Rule != nil && c.Rule.DefaultRetention != nil {
			d := c.Rule.DefaultRetention
			cfg.DefaultMode = string(d.Mode)
			cfg.DefaultPeriod = time.Duration(aws.ToInt32(d.Days))*24*time.Hour + time.Duration(aws.ToInt32(d.Years))*365*24*time.Hour
		}
	}
	b.lockCfg = &cfg
	return cfg, nil
}

// Retention reports the retention of key: zero when it has none or the bucket has no
// Object Lock, an error wrapping storage.ErrNotFound when key is missing.
func (b *Bucket) Retention(ctx context.Context, key string) (storage.Retention, error) {
	cfg, err := b.LockConfig(ctx)
	if err != nil || !cfg.Enabled {
		return storage.Retention{}, err
	}
	out, err := b.client.GetObjectRetention(ctx, &awss3.GetObjectRetentionInput{Bucket: aws.String(b.bucket), Key: aws.String(b.prefix + key)})
	switch {
	case err != nil && apiCode(err) == "NoSuchObjectLockConfiguration":
		return storage.Retention{}, nil
	case err != nil && isNotFound(err):
		return storage.Retention{}, fmt.Errorf("retention of %s: %w", b.URL(key), storage.ErrNotFound)
	case err != nil:
		return storage.Retention{}, fmt.Errorf("retention of %s: %w", b.URL(key), explain(b.bucket, err))
	case out.Retention == nil:
		return storage.Retention{}, nil
	}
	return storage.Retention{Mode: string(out.Retention.Mode), Until: aws.ToTime(out.Retention.RetainUntilDate)}, nil
}

// exists tells whether an object has key, for a conditional write refused with 403.
func (b *Bucket) exists(ctx context.Context, key string) bool {
	_, err := b.client.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: aws.String(b.bucket), Key: aws.String(b.prefix + key)})
	return err == nil
}
