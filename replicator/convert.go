package replicator

import (
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"

	"github.com/ddbtape/ddbtape/ddbjson"
	"github.com/ddbtape/ddbtape/writer"
)

// toChange turns a stream record into a segment row. im holds the record's items already
// in stored form when the reader transcoded them (nil: they are in r). A record without
// sequence number or keys cannot be ordered or applied, so it is an error rather than a
// row to skip.
func toChange(table, streamARN, shardID string, r types.Record, im *ddbjson.Images, capturedAt time.Time) (writer.Change, error) {
	d := r.Dynamodb
	if d == nil || d.SequenceNumber == nil {
		return writer.Change{}, fmt.Errorf("record %s of shard %s has no sequence number", aws.ToString(r.EventID), shardID)
	}
	if im == nil {
		var err error
		if im, err = fromStreams(d); err != nil {
			return writer.Change{}, fmt.Errorf("record %s %w", *d.SequenceNumber, err)
		}
	}
	c := writer.Change{
		TableName:      table,
		StreamARN:      streamARN,
		ShardID:        shardID,
		SequenceNumber: *d.SequenceNumber,
		EventID:        aws.ToString(r.EventID),
		EventName:      string(r.EventName),
		CapturedAt:     capturedAt.UTC(),
		Keys:           im.Keys,
		NewImage:       im.NewImage,
		OldImage:       im.OldImage,
		SizeBytes:      aws.ToInt64(d.SizeBytes),
	}
	if d.ApproximateCreationDateTime != nil {
		c.ApproximateCreationTime = d.ApproximateCreationDateTime.UTC()
	}
	if r.UserIdentity != nil && r.UserIdentity.PrincipalId != nil {
		p := *r.UserIdentity.PrincipalId
		c.UserIdentity = &p
	}
	return c, nil
}

// fromStreams encodes a record's items as the SDK decoded them.
func fromStreams(d *types.StreamRecord) (*ddbjson.Images, error) {
	keys, err := ddbjson.FromStreams(d.Keys)
	if err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	im := &ddbjson.Images{Keys: keys}
	if d.NewImage != nil {
		s, err := ddbjson.FromStreams(d.NewImage)
		if err != nil {
			return nil, fmt.Errorf("new image: %w", err)
		}
		im.NewImage = &s
	}
	if d.OldImage != nil {
		s, err := ddbjson.FromStreams(d.OldImage)
		if err != nil {
			return nil, fmt.Errorf("old image: %w", err)
		}
		im.OldImage = &s
	}
	return im, nil
}
