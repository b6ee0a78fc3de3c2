// Package storage is the object-store seam under every backup file: change segments,
// snapshot parts, manifests and checkpoint documents all go through a Bucket.
//
// Two backends implement it, each in a subpackage named after its medium: storage/dir
// (a local directory, the embedded default) and storage/s3. Both make objects appear
// atomically: a reader sees a whole object or none.
//
// Backup objects (segments, snapshot parts and manifests, ledger objects) are written
// sealed (Sealed): with their SHA-256, which the backend checks while writing and S3 keeps
// as the object's additional checksum. They are immutable, and an S3 bucket with Object
// Lock holds them under a retention (Locker, ErrLocked). Everything else ddbtape writes
// (checkpoints, capture and readers' locks, the retention marker, reports) is a small
// coordination object, rewritten or deleted by its owner, and never locked.
package storage

import (
	"context"
	"errors"
	"io"
	"time"
)

// ErrNotFound is returned (wrapped) by Open when no object has the key.
var ErrNotFound = errors.New("object not found")

// ErrExists is returned (wrapped) by Create when an object already has the key.
var ErrExists = errors.New("object already exists")

// WriteMode is how a backend's write treats an object that already has the key: the
// difference between Bucket.Create (IfAbsent) and Bucket.Put (Replace).
type WriteMode int

const (
	// Replace stores the new object in place of any existing one, atomically.
	Replace WriteMode = iota
	// IfAbsent stores it only if no object has the key; otherwise the write fails with
	// ErrExists and the existing object is untouched.
	IfAbsent
)

// Object describes one stored object.
type Object struct {
	Key     string // full key relative to the bucket root, slash separated
	Size    int64
	ModTime time.Time
}

// Bucket is a flat namespace of objects keyed by slash-separated paths.
type Bucket interface {
	// Create stores r under key only if no object has that key; otherwise it returns an
	// error wrapping ErrExists and leaves the existing object untouched.
	Create(ctx context.Context, key string, r io.Reader) error
	// Put stores r under key, replacing any existing object atomically.
	Put(ctx context.Context, key string, r io.Reader) error
	// Open returns the object's content; an error wrapping ErrNotFound when it is missing.
	Open(ctx context.Context, key string) (io.ReadCloser, error)
	// List returns every object whose key starts with prefix, sorted by key. A prefix
	// that matches nothing gives an empty list, not an error.
	List(ctx context.Context, prefix string) ([]Object, error)
	// Delete removes the object; deleting a missing object is not an error.
	Delete(ctx context.Context, key string) error
}
