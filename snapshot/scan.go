package snapshot

import (
	"context"
	"fmt"
	"math"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/ddbtape/ddbtape/ddbjson"
	"github.com/ddbtape/ddbtape/retry"
	"github.com/ddbtape/ddbtape/writer"
)

// scanSegment reads one segment from where its state stands to its end. Pages accumulate
// in a part (spooled to disk by the writer); when the part is due, or the segment ends, the
// part is stored and then the state records it with the position after its last page.
func (j *Job) scanSegment(ctx context.Context, st *segmentState, next *atomic.Int64, p Progress) error {
	var start map[string]types.AttributeValue
	if st.LastEvaluatedKey != "" {
		var err error
		if start, err = ddbjson.ToDynamoDB(st.LastEvaluatedKey); err != nil {
			return fmt.Errorf("segment %d: %w: last evaluated key: %v", st.Segment, ErrStateCorrupt, err)
		}
	}
	part := writer.NewPart(j.cfg.SpoolDir)
	defer func() { part.Discard() }()
	var rows, itemBytes int64
	for {
		out, err := j.page(ctx, st.Segment, start)
		if err != nil {
			if ctx.Err() != nil && part.Len() > 0 {
				// Interrupted (SIGINT, SIGTERM): store what was read and where it ended, so
				// --resume continues from here instead of rescanning it.
				if serr := j.storePart(ctx, st, &part, next, start, false, rows, itemBytes); serr != nil {
					j.cfg.Logger.Warn("could not store the pages read before the interruption; --resume reads them again", "snapshot", j.ID(), "segment", st.Segment, "err", serr)
				}
			}
			return err
		}
		var pageBytes int64
		for _, item := range out.Items {
			it, err := j.row(item)
			if err != nil {
				return fmt.Errorf("segment %d: %w", st.Segment, err)
			}
			if err := part.Append(it); err != nil {
				return fmt.Errorf("segment %d: spool part: %w", st.Segment, err)
			}
			pageBytes += int64(len(it.Item))
		}
		j.limit.Spend(consumed(out, pageBytes, j.cfg.Consistent))
		rows += int64(len(out.Items))
		itemBytes += pageBytes
		j.stats.items.Add(int64(len(out.Items)))
		j.stats.pages.Add(1)
		p.Add(int64(len(out.Items)), pageBytes)

		start = out.LastEvaluatedKey
		last := len(start) == 0
		if !last && !part.Due(j.cfg.Part) {
			continue
		}
		if err := j.storePart(ctx, st, &part, next, start, last, rows, itemBytes); err != nil {
			return err
		}
		rows, itemBytes = 0, 0
		if last {
			j.cfg.Logger.Debug("segment done", "snapshot", j.ID(), "segment", st.Segment, "rows", st.Rows, "parts", len(st.Parts))
			return nil
		}
	}
}

// storePart stores the pages spooled in *part (if any) as the segment's next part, then
// saves the segment's state: the position after them (start; none when last) and its
// totals. The state moves only after the part is stored. An interruption does not cut
// these writes off (they store what was read already), within storeTimeout.
func (j *Job) storePart(ctx context.Context, st *segmentState, part **writer.Part, next *atomic.Int64, start map[string]types.AttributeValue, last bool, rows, itemBytes int64) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
	defer cancel()
	if (*part).Len() > 0 {
		n := int(next.Add(1) - 1)
		mp, err := writer.FlushPart(ctx, j.bucket, *part, j.job.TableName, j.job.SnapshotID, n)
		if err != nil {
			return fmt.Errorf("segment %d: %w", st.Segment, err)
		}
		j.stats.parts.Add(1)
		st.Parts = append(st.Parts, mp)
		*part = writer.NewPart(j.cfg.SpoolDir)
	}
	st.LastEvaluatedKey = ""
	if !last {
		var err error
		if st.LastEvaluatedKey, err = ddbjson.FromDynamoDB(start); err != nil {
			return fmt.Errorf("segment %d: encode last evaluated key: %w", st.Segment, err)
		}
	}
	st.Rows += rows
	st.ItemBytes += itemBytes
	st.Done = last
	st.UpdatedAt = j.cfg.Now().UTC()
	if err := putJSON(ctx, j.state, segmentStateName(st.Segment), st); err != nil {
		return fmt.Errorf("segment %d: save state: %w", st.Segment, err)
	}
	return nil
}

// storeTimeout bounds storing one part and its segment's state.
const storeTimeout = 2 * time.Minute

// row encodes one scanned item as a part row: its key and the whole item, DynamoDB JSON.
func (j *Job) row(item map[string]types.AttributeValue) (writer.SnapshotItem, error) {
	itemJSON, err := ddbjson.FromDynamoDB(item)
	if err != nil {
		return writer.SnapshotItem{}, fmt.Errorf("encode item: %w", err)
	}
	key := make(map[string]types.AttributeValue, len(j.keyNames))
	for _, name := range j.keyNames {
		v, ok := item[name]
		if !ok {
			return writer.SnapshotItem{}, fmt.Errorf("scanned item has no key attribute %q", name)
		}
		key[name] = v
	}
	keyJSON, err := ddbjson.FromDynamoDB(key)
	if err != nil {
		return writer.SnapshotItem{}, fmt.Errorf("encode key: %w", err)
	}
	return writer.SnapshotItem{Keys: keyJSON, Item: itemJSON}, nil
}

// noSDKRetries turns off the SDK's own retries for Scan: page retries are ours (bounded,
// classified, counted), and the SDK's client-side retry quota would otherwise turn a long
// throttle into a "retry quota exceeded" error of its own.
func noSDKRetries(o *dynamodb.Options) { o.Retryer = aws.NopRetryer{} }

// page reads one page of a segment, waiting for the capacity limit and retrying transient
// failures until the retry bound.
func (j *Job) page(ctx context.Context, seg int, start map[string]types.AttributeValue) (*dynamodb.ScanOutput, error) {
	in := &dynamodb.ScanInput{
		TableName:              aws.String(j.job.TableName),
		Segment:                aws.Int32(int32(seg)),
		TotalSegments:          aws.Int32(int32(j.job.TotalSegments)),
		ExclusiveStartKey:      start,
		ConsistentRead:         aws.Bool(j.cfg.Consistent),
		ReturnConsumedCapacity: types.ReturnConsumedCapacityTotal,
	}
	if j.cfg.PageSize > 0 {
		in.Limit = aws.Int32(j.cfg.PageSize)
	}
	var out *dynamodb.ScanOutput
	p := j.retries
	p.What = "scan page"
	p.Hint = "raise --retry-bound, or lower --max-rcu or --workers"
	p.OnRetry = func(err error, wait time.Duration) {
		j.stats.retries.Add(1)
		if retry.Throttled(err) {
			j.stats.throttles.Add(1)
		}
		j.cfg.Logger.Debug("retrying scan page", "snapshot", j.ID(), "segment", seg, "wait", wait, "err", err)
	}
	err := retry.Do(ctx, p, func(ctx context.Context) error {
		if err := j.limit.Wait(ctx); err != nil {
			return err
		}
		o, err := j.db.Scan(ctx, in, noSDKRetries)
		if err != nil {
			return err
		}
		out = o
		return nil
	})
	if ctxErr := ctx.Err(); ctxErr != nil {
		return nil, ctxErr
	}
	if err != nil {
		return nil, fmt.Errorf("scan segment %d of %d: %w", seg, j.job.TotalSegments, err)
	}
	return out, nil
}

// consumed is the read capacity a page cost: what DynamoDB reported (it always does when
// asked), or else an estimate from the page's DynamoDB JSON size: 4 KB per unit, half a
// unit for an eventually consistent read.
func consumed(out *dynamodb.ScanOutput, jsonBytes int64, consistent bool) float64 {
	if out.ConsumedCapacity != nil && out.ConsumedCapacity.CapacityUnits != nil {
		return *out.ConsumedCapacity.CapacityUnits
	}
	units := math.Ceil(float64(jsonBytes) / 4096)
	if !consistent {
		units /= 2
	}
	return units
}
