// Package faulty wraps a storage.Bucket so tests can make chosen operations fail, in
// particular the failures that lie: a write that took effect but reports an error.
//
// On S3 both happen in ordinary operation. A PUT whose response is lost (a reset
// connection, a timeout after the upload) is retried by the SDK; with If-None-Match the
// retry finds the object it just stored and is refused with 412, which the s3 backend
// reports as storage.ErrExists. And a 500 can come after the object was committed. Code
// that cleans up after a failed write must survive both: Stored rules reproduce them on
// any backend, over a directory as well as over versitygw.
//
// A Bucket is a struct of rules, not a fake: every operation that no rule fails goes to
// the wrapped bucket unchanged.
package faulty

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/ddbtape/ddbtape/storage"
)

var _ storage.Bucket = (*Bucket)(nil)

// Op is one operation of storage.Bucket; Ops combine them with |.
type Op uint8

// The operations a Rule can match.
const (
	Create Op = 1 << iota
	Put
	Open
	List
	Delete
	// Writes is Create | Put.
	Writes = Create | Put
)

func (o Op) String() string {
	var names []string
	for _, n := range []struct {
		op   Op
		name string
	}{{Create, "Create"}, {Put, "Put"}, {Open, "Open"}, {List, "List"}, {Delete, "Delete"}} {
		if o&n.op != 0 {
			names = append(names, n.name)
		}
	}
	return strings.Join(names, "|")
}

// The errors a lost response turns into on S3. Both are what the operation returns after
// a Stored rule has let it take effect; ErrLostExists wraps storage.ErrExists, as the s3
// backend's answer does.
var (
	ErrLostExists  = fmt.Errorf("injected: the write was stored, its response lost, and the retry refused with 412 Precondition Failed: %w", storage.ErrExists)
	ErrAfterCommit = errors.New("injected: 500 InternalError after the write was committed")
	// ErrRefused is a plain failure: the operation did not happen.
	ErrRefused = errors.New("injected: 503 SlowDown, nothing was stored")
)

// Rule fails the operations it matches.
type Rule struct {
	// Ops are the operations it applies to; zero matches none.
	Ops Op
	// Key picks the keys it applies to (the key as the wrapped bucket sees it; the prefix
	// for List); nil: every key. Suffix and Prefix make common ones.
	Key func(key string) bool
	// Stored lets the operation take effect on the wrapped bucket first and returns Err
	// after (a lost response). Without it the operation never reaches the bucket.
	Stored bool
	// Err is what the operation returns; nil: ErrRefused, or ErrAfterCommit when Stored.
	Err error
	// Times is how many operations it fails before it stops matching; 0: all of them.
	Times int
}

// Suffix matches keys ending in s.
func Suffix(s string) func(string) bool {
	return func(k string) bool { return strings.HasSuffix(k, s) }
}

// Prefix matches keys starting with s.
func Prefix(s string) func(string) bool {
	return func(k string) bool { return strings.HasPrefix(k, s) }
}

// Event is one operation a rule failed.
type Event struct {
	Op     Op
	Key    string
	Stored bool
	Err    error
}

// Bucket is a storage.Bucket that fails what its rules match. Safe for concurrent use.
type Bucket struct {
	b     storage.Bucket
	mu    sync.Mutex
	rules []*rule
	fired []Event
}

type rule struct {
	Rule
	fired int
}

// New wraps b; with no rules it behaves exactly like b.
func New(b storage.Bucket, rules ...Rule) *Bucket {
	f := &Bucket{b: b}
	f.Add(rules...)
	return f
}

// Add appends rules; the first matching rule of an operation applies.
func (f *Bucket) Add(rules ...Rule) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, r := range rules {
		f.rules = append(f.rules, &rule{Rule: r})
	}
}

// Fired returns the operations failed so far, in order.
func (f *Bucket) Fired() []Event {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Event(nil), f.fired...)
}

// Unwrap is the wrapped bucket.
func (f *Bucket) Unwrap() storage.Bucket { return f.b }

// match returns the rule that fails (op, key), counting it as fired, or nil.
func (f *Bucket) match(op Op, key string) *Rule {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, r := range f.rules {
		if r.Ops&op == 0 || (r.Key != nil && !r.Key(key)) || (r.Times > 0 && r.fired >= r.Times) {
			continue
		}
		r.fired++
		out := r.Rule
		if out.Err == nil {
			out.Err = ErrRefused
			if out.Stored {
				out.Err = ErrAfterCommit
			}
		}
		return &out
	}
	return nil
}

func (f *Bucket) record(op Op, key string, r *Rule) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fired = append(f.fired, Event{Op: op, Key: key, Stored: r.Stored, Err: r.Err})
}

// do runs the operation under the matching rule, if any. A Stored rule reports its error
// only when the operation itself succeeded: a real failure is the true answer.
func (f *Bucket) do(op Op, key string, body io.Reader, call func() error) error {
	r := f.match(op, key)
	if r == nil {
		return call()
	}
	f.record(op, key, r)
	if !r.Stored {
		if body != nil {
			_, _ = io.Copy(io.Discard, body) // as a request that was sent and refused
		}
		return r.Err
	}
	if err := call(); err != nil {
		return err
	}
	return r.Err
}

func (f *Bucket) Create(ctx context.Context, key string, r io.Reader) error {
	return f.do(Create, key, r, func() error { return f.b.Create(ctx, key, r) })
}

func (f *Bucket) Put(ctx context.Context, key string, r io.Reader) error {
	return f.do(Put, key, r, func() error { return f.b.Put(ctx, key, r) })
}

// Open under a Stored rule opens the object, closes it and returns the rule's error.
func (f *Bucket) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	var rc io.ReadCloser
	err := f.do(Open, key, nil, func() error {
		var err error
		rc, err = f.b.Open(ctx, key)
		return err
	})
	if err != nil {
		if rc != nil {
			rc.Close()
		}
		return nil, err
	}
	return rc, nil
}

func (f *Bucket) List(ctx context.Context, prefix string) ([]storage.Object, error) {
	var objs []storage.Object
	err := f.do(List, prefix, nil, func() error {
		var err error
		objs, err = f.b.List(ctx, prefix)
		return err
	})
	if err != nil {
		return nil, err
	}
	return objs, nil
}

func (f *Bucket) Delete(ctx context.Context, key string) error {
	return f.do(Delete, key, nil, func() error { return f.b.Delete(ctx, key) })
}

// URL names objects as the wrapped bucket does.
func (f *Bucket) URL(key string) string { return storage.URL(f.b, key) }
