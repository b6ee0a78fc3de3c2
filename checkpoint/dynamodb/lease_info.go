package dynamodb

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// LeaseInfo is one shard's lease and checkpoint as the table holds them.
type LeaseInfo struct {
	ShardID          string
	ParentShardID    string
	StreamARN        string
	StartingSequence string
	// Owner is the worker holding the lease; empty when nobody does (new, released or
	// finished).
	Owner   string
	Counter int64
	// RenewedAt and ExpiresAt are the owner's clock at its last take or renewal.
	RenewedAt time.Time
	ExpiresAt time.Time
	// Checkpointed is set once a position was saved; SequenceNumber and Finished are it.
	Checkpointed   bool
	SequenceNumber string
	Finished       bool
	UpdatedAt      time.Time
}

// ListLeases reads every shard item of table, in shard id order: its lease and
// checkpoint. Nothing recorded yet gives an empty list.
func (s *Store) ListLeases(ctx context.Context, table string) ([]LeaseInfo, error) {
	var out []LeaseInfo
	err := s.query(ctx, table, func(item map[string]types.AttributeValue) error {
		if !isShardItem(item) {
			return nil
		}
		in, err := decodeInfo(item)
		if err != nil {
			return fmt.Errorf("lease of %s: %w", table, err)
		}
		out = append(out, in)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list leases: %w", err)
	}
	return out, nil
}

func decodeInfo(item map[string]types.AttributeValue) (LeaseInfo, error) {
	in := LeaseInfo{
		ShardID:          attrString(item, attrShardID),
		ParentShardID:    attrString(item, attrParentShardID),
		StreamARN:        attrString(item, attrStreamARN),
		StartingSequence: attrString(item, attrStartingSequence),
		Owner:            attrString(item, attrLeaseOwner),
		Checkpointed:     hasCheckpoint(item),
		SequenceNumber:   attrString(item, attrSequenceNumber),
		Finished:         attrBool(item, attrFinished),
	}
	var err error
	if in.Counter, err = attrInt(item, attrLeaseCounter); err != nil {
		return LeaseInfo{}, fmt.Errorf("shard %s: %w", in.ShardID, err)
	}
	for _, f := range []struct {
		name string
		dst  *time.Time
	}{{attrLeaseRenewedAt, &in.RenewedAt}, {attrLeaseExpiresAt, &in.ExpiresAt}, {attrUpdatedAt, &in.UpdatedAt}} {
		if *f.dst, err = attrTime(item, f.name); err != nil {
			return LeaseInfo{}, fmt.Errorf("shard %s: %w", in.ShardID, err)
		}
	}
	return in, nil
}
