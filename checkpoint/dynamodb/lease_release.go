package dynamodb

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Release gives up every lease this worker owns so other workers take them at once. Call
// it after the readers stopped and stored what they read.
//
// It stops taking first (a take still in flight gives its lease back when it completes),
// releases the leases held, then releases every lease the table still shows owned by this
// worker id: a write whose every answer was lost (a connection reset, a deadline) may
// have taken or renewed a lease without this worker knowing. Worker ids are unique per
// process, and a lease left by an earlier process with the same id has no reader either.
// It returns nil once the table showed no lease of this worker left.
func (m *Leases) Release(ctx context.Context) error {
	m.StopTaking()
	var errs []error
	for _, l := range m.Held() {
		if err := l.Release(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if err := m.releaseOwned(ctx); err != nil {
		return errors.Join(append(errs, err)...)
	}
	return nil // whatever failed above was released by releaseOwned
}

// releaseOwned releases every lease of the table whose owner is this worker.
func (m *Leases) releaseOwned(ctx context.Context) error {
	infos, err := m.store.ListLeases(ctx, m.cfg.Table)
	if err != nil {
		return fmt.Errorf("release leases: %w", err)
	}
	var errs []error
	for _, in := range infos {
		if in.Owner != m.cfg.WorkerID {
			continue
		}
		m.log.Warn("releasing a lease the table shows owned by this worker, which did not hold it (a write whose answer was lost)", "shard", in.ShardID, "counter", in.Counter)
		if err := m.release(ctx, in.ShardID, leaseHolder{Owner: in.Owner, Counter: in.Counter}); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (m *Leases) release(ctx context.Context, shardID string, h leaseHolder) error {
	_, err := m.api.UpdateItem(ctx, &ddb.UpdateItemInput{
		TableName:                 aws.String(m.store.TableName()),
		Key:                       shardKey(m.store.App(), m.cfg.Table, shardID),
		ConditionExpression:       aws.String("#o = :me AND #c = :held"),
		UpdateExpression:          aws.String("SET #c = :next REMOVE #o, #e"),
		ExpressionAttributeNames:  map[string]string{"#o": attrLeaseOwner, "#c": attrLeaseCounter, "#e": attrLeaseExpiresAt},
		ExpressionAttributeValues: map[string]types.AttributeValue{":me": &types.AttributeValueMemberS{Value: h.Owner}, ":held": num(h.Counter), ":next": num(h.Counter + 1)},
	})
	var failed *types.ConditionalCheckFailedException
	if errors.As(err, &failed) {
		return nil // no longer ours (or released by an attempt whose answer was lost)
	}
	if err != nil {
		return fmt.Errorf("release lease of %s shard %s: %w", m.cfg.Table, shardID, err)
	}
	m.log.Info("lease released", "shard", shardID)
	return nil
}

// ownWrite reports whether a failed take or renewal failed on this worker's own write of
// counter at time at: the SDK retries a write whose connection was reset after DynamoDB
// applied it, and the retry's condition then fails on the first attempt's result. The
// write's time stamp (to the nanosecond) tells it from any other. It returns the item as
// the failed condition found it.
func (m *Leases) ownWrite(ctx context.Context, failed *types.ConditionalCheckFailedException, shardID string, counter int64, at time.Time) (map[string]types.AttributeValue, bool) {
	item := failed.Item
	if item == nil {
		// Servers that do not return the item with the failure: read it.
		err := m.store.query(ctx, m.cfg.Table, func(it map[string]types.AttributeValue) error {
			if isShardItem(it) && attrString(it, attrShardID) == shardID {
				item = it
			}
			return nil
		})
		if err != nil {
			m.log.Warn("could not read a lease after a failed write; taking it as another worker's", "shard", shardID, "err", err)
			return nil, false
		}
	}
	c, err := attrInt(item, attrLeaseCounter)
	ours := err == nil && c == counter &&
		attrString(item, attrLeaseOwner) == m.cfg.WorkerID &&
		attrString(item, attrLeaseRenewedAt) == stampText(at)
	return item, ours
}
