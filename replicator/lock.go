package replicator

import (
	"context"

	"github.com/ddbtape/ddbtape/capturelock"
)

// lockDestination takes the table's capture lock in the destination when this capture
// reads every shard itself (no Leases): two such captures of one table and destination
// would store everything twice, so the second one stops at once with a
// *capturelock.LockedError. A fleet shares the shards through leases and takes no lock.
// The context returned ends, with a *capturelock.LostError as its cause, when the lock is
// lost; unlock releases it and turns Run's result into the loss when there was one.
func (c *Capture) lockDestination(ctx context.Context) (context.Context, func(runErr error) error, error) {
	if c.cfg.Leases != nil {
		return ctx, func(err error) error { return err }, nil
	}
	o := c.cfg.Lock
	if o.Logger == nil {
		o.Logger = c.cfg.Logger // capturelock names the table itself
	}
	ctx, release, err := capturelock.Take(ctx, c.bucket, c.cfg.Table, o)
	if err != nil {
		return nil, nil, err
	}
	return ctx, release, nil
}
