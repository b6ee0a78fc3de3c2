package dynamodb

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/ddbtape/ddbtape/checkpoint"
)

// ErrLeaseLost means this worker no longer holds a shard's lease: it was not renewed in time,
// or another worker took it to balance the fleet. The shard's reader stops; the new holder
// continues from the last checkpoint, so nothing is lost (records read but not
// checkpointed are read again, and readers dedupe them).
// It also matches checkpoint.ErrBackwards, so store retries give up at once.
var ErrLeaseLost error = &staleError{msg: "lease lost: another worker took over the shard and continues from its last checkpoint"}

// ErrLeaseReleased means the lease was given up on purpose (shutdown), so others take it at once.
var ErrLeaseReleased = errors.New("lease released")

// errFinished ends a lease whose shard was checkpointed as read to its end.
var errFinished = errors.New("shard finished")

// Lease is this worker's hold on one shard. It ends (Done is closed) when it is lost,
// released, or its shard is saved as finished.
type Lease struct {
	m       *Leases
	shardID string
	pos     checkpoint.Position
	hasPos  bool

	// op serialises this lease's writes (renewal, conditional saves, release), so a save
	// always carries the counter the latest renewal wrote.
	op sync.Mutex

	mu        sync.Mutex // guards the fields below
	counter   int64
	renewedAt time.Time // this worker's clock, at the last successful take or renewal
	done      chan struct{}
	err       error
}

// ShardID is the leased shard.
func (l *Lease) ShardID() string { return l.shardID }

// Position returns the shard's checkpoint as recorded when the lease was taken; false
// when the shard was never checkpointed. Nobody else can checkpoint the shard while the
// lease is held, so it is where reading continues.
func (l *Lease) Position() (checkpoint.Position, bool) { return l.pos, l.hasPos }

// Done is closed when the lease ends.
func (l *Lease) Done() <-chan struct{} { return l.done }

// Err is nil while the lease is held, then why it ended: ErrLeaseLost, ErrLeaseReleased, or a
// finished shard.
func (l *Lease) Err() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.err
}

// Counter is the lease counter this worker last wrote.
func (l *Lease) Counter() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.counter
}

// Bind returns a context that is cancelled when ctx is or the lease ends; its
// context.Cause is then the lease's Err (ErrLeaseLost when it was lost). The shard's reader
// runs under it. Call the cancel function when the reader is done.
func (l *Lease) Bind(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(ctx)
	go func() {
		select {
		case <-l.done:
			cancel(l.Err())
		case <-ctx.Done():
		}
	}()
	return ctx, func() { cancel(context.Canceled) }
}

// Store returns the checkpoint store for this shard: Save is done only while the lease is
// held (conditional on its owner and counter in the same write), and fails with an error
// wrapping ErrLeaseLost otherwise, so even a reader that has not yet noticed the loss cannot
// write after the new holder started. Load and AddGap are the manager's store's.
func (l *Lease) Store() checkpoint.Store { return leasedStore{l} }

func (l *Lease) holder() (leaseHolder, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err != nil {
		return leaseHolder{}, l.err
	}
	return leaseHolder{Owner: l.m.cfg.WorkerID, Counter: l.counter}, nil
}

func (l *Lease) renewed(counter int64, at time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.counter, l.renewedAt = counter, at
}

// end ends the lease once, with cause, and drops it from the manager.
func (l *Lease) end(cause error) {
	l.mu.Lock()
	first := l.err == nil
	if first {
		l.err = cause
		close(l.done)
	}
	l.mu.Unlock()
	if first {
		l.m.drop(l)
	}
}

// Release gives the lease up so another worker can take it at once. It is a no-op on a
// lease that already ended.
func (l *Lease) Release(ctx context.Context) error {
	l.op.Lock()
	defer l.op.Unlock()
	h, err := l.holder()
	if err != nil {
		return nil
	}
	err = l.m.release(ctx, l.shardID, h)
	l.end(ErrLeaseReleased)
	return err
}

type leasedStore struct{ l *Lease }

func (s leasedStore) Load(ctx context.Context, table string) (checkpoint.Table, error) {
	return s.l.m.store.Load(ctx, table)
}

func (s leasedStore) AddGap(ctx context.Context, table string, gap checkpoint.Gap) error {
	return s.l.m.store.AddGap(ctx, table, gap)
}

func (s leasedStore) Save(ctx context.Context, table string, pos checkpoint.Position) error {
	l := s.l
	if pos.ShardID != l.shardID {
		return fmt.Errorf("save checkpoint of %s: the lease of shard %s cannot save shard %s", table, l.shardID, pos.ShardID)
	}
	l.op.Lock()
	defer l.op.Unlock()
	h, err := l.holder()
	if err != nil {
		if errors.Is(err, errFinished) && pos.Finished {
			return nil // saved already; a repeated final save changes nothing
		}
		return fmt.Errorf("save checkpoint of %s shard %s: %w", table, l.shardID, ErrLeaseLost)
	}
	err = l.m.store.saveAsHolder(ctx, table, pos, h)
	switch {
	case err == nil:
		if pos.Finished {
			l.end(errFinished)
		}
		return nil
	case errors.Is(err, errNotHolder):
		l.m.log.Warn("lease lost: a checkpoint save found another holder; stopping the shard", "shard", l.shardID, "err", err)
		l.end(ErrLeaseLost)
		return fmt.Errorf("%w: %w", ErrLeaseLost, err)
	}
	return err
}
