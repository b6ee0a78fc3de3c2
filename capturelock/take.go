package capturelock

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
	"sync"
	"time"

	"github.com/ddbtape/ddbtape/storage"
)

var (
	// ErrLocked is wrapped by *LockedError: another capture holds the table's lock.
	ErrLocked = errors.New("another capture is writing this table's backup")
	// ErrLost is wrapped by *LostError: another capture took the lock over.
	ErrLost = errors.New("capture lock lost")
)

// LockedError is Take's answer when another capture holds the lock. Its message is one
// line naming the holder and what to do.
type LockedError struct {
	Table  string
	URL    string // the lock object
	Holder Doc
	Reason string    // why the holder counts as live
	FreeAt time.Time // when the lock lapses unless renewed
	Local  bool      // the holder is a process of this machine
	Now    time.Time
}

func (e *LockedError) Error() string {
	what := fmt.Sprintf("another capture of table %s is running into this destination: %s holds %s since %s (%s)",
		e.Table, e.Holder.holder(), e.URL, e.Holder.Since.UTC().Format(time.RFC3339), e.Reason)
	if e.Local {
		return what + "; stop it first: a capture started after it ended takes its lock over at once"
	}
	return fmt.Sprintf("%s; stop it first, or, if it was killed, start again after %s (in %s), when its lock expires",
		what, e.FreeAt.UTC().Format(time.RFC3339), e.FreeAt.Sub(e.Now).Round(time.Second))
}

func (e *LockedError) Unwrap() error { return ErrLocked }

// LostError says that another capture, Other, took over a capture's lock.
type LostError struct {
	Table string
	URL   string
	Other Doc
}

func (e *LostError) Error() string {
	return fmt.Sprintf("capture of table %s stopped: another capture (%s) took over its lock %s; run one capture per table and destination, or share the shards through leases (--checkpoint dynamodb://...)",
		e.Table, e.Other.holder(), e.URL)
}

func (e *LostError) Unwrap() error { return ErrLost }

// Options tune Take.
type Options struct {
	// TTL is the lock's lifetime between renewals; 0: DefaultTTL.
	TTL time.Duration
	// Logger receives takeovers and renewal failures; nil discards them.
	Logger *slog.Logger
	// Now is the clock; nil: time.Now.
	Now func() time.Time
}

// Release ends a hold: it stops the renewals and marks the lock released if it is still this
// capture's. Given the capture's own result it returns what the capture should return:
// a *LostError when the lock was lost while it ran (with runErr in its message when that
// was something else than the stop the loss caused), else runErr.
type Release func(runErr error) error

// Take takes table's capture lock in b, or returns a *LockedError (ErrLocked) at once
// when another live capture holds it. The returned context is ctx, cancelled with a
// *LostError as its cause when the lock is lost; renewals go on after ctx ends, until
// Release is called, so a capture that was told to stop keeps its lock while it stores
// what it read.
func Take(ctx context.Context, b storage.Bucket, table string, o Options) (context.Context, Release, error) {
	if o.TTL <= 0 {
		o.TTL = DefaultTTL
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	h := &hold{b: b, table: table, key: Key(table), o: o, me: self(o.Now())}
	h.url = storage.URL(b, h.key)
	if err := h.acquire(ctx); err != nil {
		return nil, nil, err
	}
	lctx, cancel := context.WithCancelCause(ctx)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		h.heartbeat(context.WithoutCancel(ctx), stop, cancel)
	}()
	var once sync.Once
	release := func(runErr error) error {
		once.Do(func() {
			close(stop)
			wg.Wait()
			cancel(nil)
			if h.lost == nil {
				h.release(context.WithoutCancel(ctx))
			}
		})
		if h.lost == nil {
			return runErr
		}
		if runErr != nil && !errors.Is(runErr, context.Canceled) && !errors.Is(runErr, ErrLost) {
			return fmt.Errorf("%w (and: %v)", h.lost, runErr)
		}
		return h.lost
	}
	return lctx, release, nil
}

// self is this process's lock document at now, with a new owner id.
func self(now time.Time) Doc {
	var r [8]byte
	_, _ = rand.Read(r[:]) // crypto/rand.Read never fails on supported platforms
	host, _ := os.Hostname()
	d := Doc{Owner: hex.EncodeToString(r[:]), Host: host, PID: os.Getpid(), Since: now.UTC()}
	machine(&d)
	return d
}

// hold is one capture's lock.
type hold struct {
	b     storage.Bucket
	table string
	key   string
	url   string
	o     Options
	me    Doc
	// lost is set by the heartbeat before it cancels; read after it ended.
	lost *LostError
}

// acquire creates the lock, or takes over a stale one; a few rounds, since a lock can be
// released or taken over between two steps.
func (h *hold) acquire(ctx context.Context) error {
	for range 3 {
		h.stamp()
		err := h.write(ctx, h.b.Create)
		if err == nil {
			return nil
		}
		cur, rerr := h.read(ctx)
		switch {
		case errors.Is(rerr, storage.ErrNotFound) && errors.Is(err, storage.ErrExists):
			continue // released in between
		case errors.Is(rerr, storage.ErrNotFound), rerr != nil && !errors.Is(err, storage.ErrExists):
			return fmt.Errorf("take capture lock %s: %w", h.url, err)
		case rerr != nil:
			return rerr
		}
		now := h.o.Now()
		d := Decide(cur, h.me, now, processStart)
		switch d.Verdict {
		case Held:
			return nil // our create, reported failed (a lost response)
		case Busy:
			return &LockedError{Table: h.table, URL: h.url, Holder: cur, Reason: d.Reason, FreeAt: d.FreeAt, Local: d.Local, Now: now}
		}
		if d.Verdict == Stale {
			h.o.Logger.Warn("taking over the capture lock of a capture that is gone", "table", h.table, "lock", h.url, "holder", cur.holder(), "reason", d.Reason)
		}
		h.stamp()
		if err := h.write(ctx, h.b.Put); err != nil {
			return fmt.Errorf("take over capture lock %s: %w", h.url, err)
		}
		// Another newcomer may have written it just after us: the last write wins.
		if cur, err := h.read(ctx); err == nil && cur.Owner == h.me.Owner {
			return nil
		}
	}
	return fmt.Errorf("take capture lock %s: it changed hands three times while this capture tried; is another capture starting? %w", h.url, ErrLocked)
}

// heartbeat renews the lock every TTL/3 until stop is closed, and cancels with a
// *LostError when it finds another owner's lock. A renewal that fails (the destination
// is full or unreachable) is only logged: the capture's own writes fail alike and are
// retried by it, and stopping would turn a storage outage it rides out into a failure.
// If the lock lapses meanwhile and another capture takes it, the first renewal that
// succeeds finds that out.
func (h *hold) heartbeat(ctx context.Context, stop <-chan struct{}, cancel context.CancelCauseFunc) {
	tick := time.NewTicker(h.o.TTL / 3)
	defer tick.Stop()
	failing := false
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		rctx, cancelRenew := context.WithTimeout(ctx, h.o.TTL/3)
		err := h.renew(rctx)
		cancelRenew()
		switch {
		case h.lost != nil:
			h.o.Logger.Error("capture lock lost: stopping", "table", h.table, "err", h.lost)
			cancel(h.lost)
			return
		case err != nil && !failing:
			failing = true
			h.o.Logger.Warn("could not renew the capture lock; retrying while the capture goes on", "table", h.table, "lock", h.url, "expires", h.me.Expires, "err", err)
		case err == nil && failing:
			failing = false
			h.o.Logger.Info("capture lock renewed again", "table", h.table, "lock", h.url)
		}
	}
}

// renew reads the lock and writes it with a new expiry if it is still ours; it sets
// h.lost when another capture's lock is there.
func (h *hold) renew(ctx context.Context) error {
	cur, err := h.read(ctx)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		// Deleted by hand: take it again if nobody else did.
		prev := h.me
		h.stamp()
		if err := h.write(ctx, h.b.Create); err != nil {
			h.me.Expires = prev.Expires // only a stored renewal moves the expiry
			if errors.Is(err, storage.ErrExists) {
				return nil // the next round reads whose it is
			}
			return err
		}
		return nil
	case err != nil:
		return err
	case cur.Owner != h.me.Owner:
		h.lost = &LostError{Table: h.table, URL: h.url, Other: cur}
		return nil
	}
	prev := h.me
	h.stamp()
	if err := h.write(ctx, h.b.Put); err != nil {
		h.me.Expires = prev.Expires
		return err
	}
	return nil
}

// stamp sets the renewal time and expiry of the document to write.
func (h *hold) stamp() {
	now := h.o.Now().UTC()
	h.me.Renewed, h.me.Expires = now, now.Add(h.o.TTL)
}

func (h *hold) write(ctx context.Context, op func(context.Context, string, io.Reader) error) error {
	data, err := json.MarshalIndent(h.me, "", "  ")
	if err != nil {
		return err
	}
	return op(ctx, h.key, bytes.NewReader(append(data, '\n')))
}

// read returns the lock's document; the error wraps storage.ErrNotFound when there is
// none, and says what to do when it cannot be parsed.
func (h *hold) read(ctx context.Context) (Doc, error) {
	rc, err := h.b.Open(ctx, h.key)
	if err != nil {
		return Doc{}, fmt.Errorf("read capture lock %s: %w", h.url, err)
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, 1<<20))
	if err != nil {
		return Doc{}, fmt.Errorf("read capture lock %s: %w", h.url, err)
	}
	var d Doc
	if err := json.Unmarshal(data, &d); err != nil || d.Owner == "" || d.Expires.IsZero() {
		return Doc{}, fmt.Errorf("capture lock %s is not a lock this ddbtape wrote: if no capture of table %s is running, delete it and start again", h.url, h.table)
	}
	return d, nil
}

// release marks the lock released if it is still ours. It writes rather than deletes, so
// a capture needs no delete permission; the next capture takes a released lock at once.
func (h *hold) release(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cur, err := h.read(ctx)
	if err != nil || cur.Owner != h.me.Owner {
		return
	}
	h.me.Released = true
	h.me.Expires = h.o.Now().UTC()
	if err := h.write(ctx, h.b.Put); err != nil {
		h.o.Logger.Warn("could not release the capture lock; it expires by itself", "table", h.table, "lock", h.url, "err", err)
	}
}
