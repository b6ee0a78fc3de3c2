package catalog

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/ddbtape/ddbtape/storage"
)

// DefaultLockTTL is how long a lock lives without renewal. Hold renews it every third of
// that, so a reader that dies leaves a lock that stops protecting anything within minutes.
const DefaultLockTTL = 2 * time.Minute

// LockSkew is how long after its expiry a lock still counts as live: room for the clocks
// of the reader's and the run's hosts to disagree.
const LockSkew = time.Minute

var (
	// ErrPruned means retention has deleted, or is deleting, what reading the backup at
	// that time needs.
	ErrPruned = errors.New("retention has deleted what that time needs: pick a time inside the restorable window (ddbtape status lists it)")
	// ErrLockLost means a reader's lock could not be renewed before it expired, so
	// retention may have deleted files the reader needs; what it produced is not to be
	// trusted.
	ErrLockLost = errors.New("the retention lock could not be renewed before it expired (is the destination reachable?): run this again")
)

// PrunedError says which time was asked for and where the retained window starts. It
// wraps ErrPruned.
type PrunedError struct {
	At      time.Time
	Horizon time.Time
}

func (e *PrunedError) Error() string {
	return fmt.Sprintf("cannot read the backup at %s: retention keeps restore points from %s on; %v",
		e.At.UTC().Format(time.RFC3339Nano), e.Horizon.UTC().Format(time.RFC3339Nano), ErrPruned)
}

func (e *PrunedError) Unwrap() error { return ErrPruned }

// LocksPrefix is where a table's locks live.
func LocksPrefix(table string) string { return table + "/locks/" }

// MarkerKey is the object holding the window start retention establishes for table.
func MarkerKey(table string) string { return table + "/retention.json" }

// lockDoc is a lock object.
type lockDoc struct {
	At      time.Time `json:"at"`
	Expires time.Time `json:"expires"`
	Purpose string    `json:"purpose,omitempty"`
	Owner   string    `json:"owner,omitempty"`
	// Released is set when its reader finished: the lock protects nothing any more.
	Released bool `json:"released,omitempty"`
}

// Marker is the horizon marker: where retention moves the restorable window's start.
type Marker struct {
	// Horizon is the restorable window's start after the run that wrote it.
	Horizon   time.Time `json:"horizon"`
	UpdatedAt time.Time `json:"updated_at"`
}

// HoldOptions tune Hold.
type HoldOptions struct {
	// Purpose and Owner say who holds the lock, for people reading the locks directory
	// ("restore", "compaction"; a host name and process id by default).
	Purpose string
	Owner   string
	// TTL is the lock's lifetime between renewals; 0 means DefaultLockTTL.
	TTL time.Duration
	// Logger receives renewal failures; nil discards them.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Hold runs fn while a lock keeps what a restore of table at `at` needs from being
// deleted by retention. fn must list the backup itself, after Hold started it: a listing
// made before may name files already gone. Hold returns a *PrunedError (ErrPruned) without
// calling fn when retention has moved past at, and an error wrapping ErrLockLost when the
// lock lapsed while fn ran (fn's context is cancelled then). The lock is marked released
// when fn returns (retention deletes it later).
func Hold(ctx context.Context, b storage.Bucket, table string, at time.Time, o HoldOptions, fn func(ctx context.Context) error) error {
	if o.TTL <= 0 {
		o.TTL = DefaultLockTTL
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Owner == "" {
		host, _ := os.Hostname()
		o.Owner = fmt.Sprintf("%s pid %d", host, os.Getpid())
	}
	key := LocksPrefix(table) + newLockID(o.Now()) + ".json"
	doc := lockDoc{At: at.UTC(), Purpose: o.Purpose, Owner: o.Owner}
	put := func(ctx context.Context) (time.Time, error) {
		doc.Expires = o.Now().Add(o.TTL).UTC()
		return doc.Expires, putJSON(ctx, b, key, doc)
	}
	expires, err := put(ctx)
	if err != nil {
		return fmt.Errorf("take retention lock: %w", err)
	}
	// The lock is released whatever happens next, even when ctx has ended: written as
	// released rather than deleted, so a reader needs no permission to delete anything in
	// the backup; retention deletes released locks with the expired ones.
	defer func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		doc.Released, doc.Expires = true, o.Now().UTC()
		if err := putJSON(dctx, b, key, doc); err != nil {
			o.Logger.Warn("could not release retention lock; it expires by itself", "key", key, "err", err)
		}
	}()
	m, err := ReadMarker(ctx, b, table)
	if err != nil {
		return err
	}
	if m.Horizon.After(at) {
		return &PrunedError{At: at, Horizon: m.Horizon}
	}

	fnCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(o.TTL / 3)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			if e, err := put(fnCtx); err == nil {
				expires = e
				continue
			} else if fnCtx.Err() != nil {
				return
			} else {
				o.Logger.Warn("could not renew retention lock", "key", key, "expires", expires, "err", err)
			}
			if !o.Now().Before(expires) {
				cancel(ErrLockLost)
				return
			}
		}
	}()
	err = fn(fnCtx)
	close(stop)
	wg.Wait()
	if cause := context.Cause(fnCtx); errors.Is(cause, ErrLockLost) {
		if err != nil {
			return fmt.Errorf("%w (%v)", ErrLockLost, err)
		}
		return ErrLockLost
	}
	return err
}

// newLockID is the lock's start time and random digits, so the directory lists in order.
func newLockID(now time.Time) string {
	var r [6]byte
	_, _ = rand.Read(r[:]) // crypto/rand.Read never fails on supported platforms
	return now.UTC().Format("20060102T150405.000Z") + "-" + hex.EncodeToString(r[:])
}

// ReadMarker returns the marker, or a zero one when none was written.
func ReadMarker(ctx context.Context, b storage.Bucket, table string) (Marker, error) {
	var m Marker
	err := getJSON(ctx, b, MarkerKey(table), &m)
	if errors.Is(err, storage.ErrNotFound) {
		return Marker{}, nil
	}
	if err != nil {
		return Marker{}, fmt.Errorf("read retention marker: %w", err)
	}
	return m, nil
}

// WriteMarker records where retention is about to move the window's start.
func WriteMarker(ctx context.Context, b storage.Bucket, table string, m Marker) error {
	if err := putJSON(ctx, b, MarkerKey(table), m); err != nil {
		return fmt.Errorf("write retention marker: %w", err)
	}
	return nil
}

// Horizon is where retention has moved the restorable window's start for table (zero when
// it never ran): restore points before it are being or have been deleted.
func Horizon(ctx context.Context, b storage.Bucket, table string) (time.Time, error) {
	m, err := ReadMarker(ctx, b, table)
	return m.Horizon, err
}

// Lock is a reader's lock as a retention run sees it: keep what a restore at At needs.
// At is zero for a lock that cannot be read: it asks for everything.
type Lock struct {
	Key string
	At  time.Time
}

// Locks returns the live locks of table and the keys of the expired ones. A lock that
// cannot be read or parsed counts as live and asking for everything (at zero) until its
// object is older than staleLock: a half-written lock must not let a run delete.
func Locks(ctx context.Context, b storage.Bucket, table string, now time.Time) (live []Lock, expired []string, err error) {
	objs, err := b.List(ctx, LocksPrefix(table))
	if err != nil {
		return nil, nil, fmt.Errorf("list retention locks: %w", err)
	}
	for _, o := range objs {
		if !strings.HasSuffix(o.Key, ".json") {
			continue
		}
		var d lockDoc
		switch err := getJSON(ctx, b, o.Key, &d); {
		case errors.Is(err, storage.ErrNotFound):
			continue // released while listing
		case err != nil || d.Expires.IsZero():
			if now.Sub(o.ModTime) > staleLock {
				expired = append(expired, o.Key)
			} else {
				live = append(live, Lock{Key: o.Key})
			}
		case d.Released, d.Expires.Add(LockSkew).Before(now):
			expired = append(expired, o.Key)
		default:
			live = append(live, Lock{Key: o.Key, At: d.At})
		}
	}
	return live, expired, nil
}

// staleLock is how long an unreadable lock object is respected.
const staleLock = time.Hour

func putJSON(ctx context.Context, b storage.Bucket, key string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode %s: %w", key, err)
	}
	if err := b.Put(ctx, key, bytes.NewReader(append(data, '\n'))); err != nil {
		return fmt.Errorf("write %s: %w", storage.URL(b, key), err)
	}
	return nil
}

// getJSON reads key into v; the error wraps storage.ErrNotFound when it is missing.
func getJSON(ctx context.Context, b storage.Bucket, key string, v any) error {
	rc, err := b.Open(ctx, key)
	if err != nil {
		return fmt.Errorf("read %s: %w", storage.URL(b, key), err)
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, 1<<20))
	if err != nil {
		return fmt.Errorf("read %s: %w", storage.URL(b, key), err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("parse %s: %w", storage.URL(b, key), err)
	}
	return nil
}
