package lease

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	ckdynamo "github.com/ddbtape/ddbtape/checkpoint/dynamodb"
)

// Info is one shard's lease and checkpoint as the table holds them.
type Info struct {
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

// List reads every shard item of table, in shard id order: its lease and checkpoint.
func List(ctx context.Context, store *ckdynamo.Store, table string) ([]Info, error) {
	var out []Info
	err := store.Query(ctx, table, func(item map[string]types.AttributeValue) error {
		if !ckdynamo.IsShardItem(item) {
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

func decodeInfo(item map[string]types.AttributeValue) (Info, error) {
	in := Info{
		ShardID:          ckdynamo.String(item, ckdynamo.AttrShardID),
		ParentShardID:    ckdynamo.String(item, ckdynamo.AttrParentShardID),
		StreamARN:        ckdynamo.String(item, ckdynamo.AttrStreamARN),
		StartingSequence: ckdynamo.String(item, ckdynamo.AttrStartingSequence),
		Owner:            ckdynamo.String(item, ckdynamo.AttrLeaseOwner),
		Checkpointed:     ckdynamo.HasCheckpoint(item),
		SequenceNumber:   ckdynamo.String(item, ckdynamo.AttrSequenceNumber),
		Finished:         ckdynamo.Bool(item, ckdynamo.AttrFinished),
	}
	var err error
	if in.Counter, err = ckdynamo.Int(item, ckdynamo.AttrLeaseCounter); err != nil {
		return Info{}, fmt.Errorf("shard %s: %w", in.ShardID, err)
	}
	for _, f := range []struct {
		name string
		dst  *time.Time
	}{{ckdynamo.AttrLeaseRenewedAt, &in.RenewedAt}, {ckdynamo.AttrLeaseExpiresAt, &in.ExpiresAt}, {ckdynamo.AttrUpdatedAt, &in.UpdatedAt}} {
		if *f.dst, err = ckdynamo.Time(item, f.name); err != nil {
			return Info{}, fmt.Errorf("shard %s: %w", in.ShardID, err)
		}
	}
	return in, nil
}
