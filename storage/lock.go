package storage

import (
	"context"
	"errors"
	"time"
)

// ErrLocked is returned (wrapped) by Delete, and by a write over an existing object, when
// the object is held under an Object Lock retention that has not ended: it stays as it is.
var ErrLocked = errors.New("object is held under an S3 Object Lock retention")

// Object Lock retention modes, as S3 spells them.
const (
	// LockGovernance: nobody without s3:BypassGovernanceRetention may delete or overwrite
	// the object, or shorten its retention, before it ends.
	LockGovernance = "GOVERNANCE"
	// LockCompliance: nobody at all, the account's root user included, may delete or
	// overwrite the object, or shorten its retention, before it ends.
	LockCompliance = "COMPLIANCE"
)

// Retention is the Object Lock an object is held under. The zero Retention is none.
type Retention struct {
	Mode  string // LockGovernance or LockCompliance; empty: none
	Until time.Time
}

// Holds reports whether the retention forbids deleting the object at now.
func (r Retention) Holds(now time.Time) bool { return r.Mode != "" && r.Until.After(now) }

// LockConfig is a bucket's Object Lock setting.
type LockConfig struct {
	// Enabled is set when the bucket was created with Object Lock: its objects can be
	// held under a retention.
	Enabled bool
	// DefaultMode and DefaultPeriod are the bucket's default retention, applied by S3 to
	// every new object that asks for none; empty and 0 when it has none.
	DefaultMode   string
	DefaultPeriod time.Duration
}

// Locker is implemented by buckets that can hold objects under a retention (storage/s3
// over a bucket with Object Lock). A directory cannot.
type Locker interface {
	// LockConfig reports the bucket's Object Lock setting; Enabled false when it has none.
	LockConfig(ctx context.Context) (LockConfig, error)
	// Retention reports the retention key is held under: the zero Retention when none,
	// an error wrapping ErrNotFound when no object has the key.
	Retention(ctx context.Context, key string) (Retention, error)
}

// LockerOf returns the Locker of b, looking through Sub and through wrappers that have an
// Unwrap() Bucket method; false when b cannot lock objects.
func LockerOf(b Bucket) (Locker, bool) {
	switch v := b.(type) {
	case *sub:
		l, ok := LockerOf(v.b)
		if !ok {
			return nil, false
		}
		return prefixedLocker{l: l, prefix: v.prefix}, true
	case Locker:
		return v, true
	case interface{ Unwrap() Bucket }:
		return LockerOf(v.Unwrap())
	}
	return nil, false
}

// RetentionOf is key's retention in b: the zero Retention when b cannot lock objects or
// key has none; an error wrapping ErrNotFound when key is missing from a bucket that can.
func RetentionOf(ctx context.Context, b Bucket, key string) (Retention, error) {
	l, ok := LockerOf(b)
	if !ok {
		return Retention{}, nil
	}
	return l.Retention(ctx, key)
}

type prefixedLocker struct {
	l      Locker
	prefix string
}

func (p prefixedLocker) LockConfig(ctx context.Context) (LockConfig, error) {
	return p.l.LockConfig(ctx)
}

func (p prefixedLocker) Retention(ctx context.Context, key string) (Retention, error) {
	return p.l.Retention(ctx, p.prefix+key)
}
