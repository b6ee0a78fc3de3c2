package dynamodb

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/ddbtape/ddbtape/checkpoint"
	"github.com/ddbtape/ddbtape/shards"
)

// The table's items. The key is (pk, sk), both strings:
//
//	pk = "<app>#<table>"                         every item of one pipeline's table
//	sk = "shard#<shard id>"                      a shard: its checkpoint and its lease
//	sk = "gap#<detected at, UTC, fixed width>#<hash of the gap>"   one recorded gap
//
// A shard item holds the checkpoint attributes once a position was saved (marked by
// attrCheckpointed) and the lease attributes once a lease manager tracks the shard; an
// item made by a lease manager alone has no checkpoint and Load leaves it out.
const (
	attrPK   = "pk"
	attrSK   = "sk"
	attrKind = "kind"

	// Checkpoint attributes.
	attrStreamARN      = "stream_arn"
	attrShardID        = "shard_id"
	attrParentShardID  = "parent_shard_id"
	attrCoveredFrom    = "covered_from"
	attrSequenceNumber = "sequence_number"
	// attrSeqKey orders sequence numbers as text (see seqKey); conditions compare it.
	attrSeqKey         = "seq_key"
	attrLastRecordTime = "last_record_time"
	attrCoveredUntil   = "covered_until"
	attrFinished       = "finished"
	attrUpdatedAt      = "updated_at"
	attrCheckpointed   = "checkpointed"

	// Lease attributes, written by Leases. The counter grows on every take, renew
	// and release: other workers judge a lease expired when they saw its counter stand
	// still for a lease duration by their own clock, so clock skew between hosts does not
	// matter. RenewedAt and ExpiresAt are the holder's clock, for operators (status).
	attrLeaseOwner     = "lease_owner"
	attrLeaseCounter   = "lease_counter"
	attrLeaseRenewedAt = "lease_renewed_at"
	attrLeaseExpiresAt = "lease_expires_at"
	// attrStartingSequence is the shard's first sequence number, so leases are taken
	// oldest data first (the data retention trims first).
	attrStartingSequence = "starting_sequence"

	// Gap attributes (besides stream_arn and shard_id).
	attrAfterSequence = "after_sequence"
	attrFrom          = "from"
	attrDetectedAt    = "detected_at"
	attrReason        = "reason"

	kindShard = "shard"
	kindGap   = "gap"

	shardPrefix = "shard#"
	gapPrefix   = "gap#"
)

// timeLayout is fixed width so gap sort keys order by time as text.
const timeLayout = "2006-01-02T15:04:05.000000000Z"

// partitionKey is the pk of every item of table in application app.
func partitionKey(app, table string) string { return app + "#" + table }

// shardSortKey is the sk of shard's item.
func shardSortKey(shardID string) string { return shardPrefix + shardID }

// shardKey is the key of shard's item.
func shardKey(app, table, shardID string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{attrPK: str(partitionKey(app, table)), attrSK: str(shardSortKey(shardID))}
}

// ShardOfKey is the shard whose item key names (a request's Key); "" for another item.
// For tests and logs that watch the table's requests.
func ShardOfKey(key map[string]types.AttributeValue) string {
	id, ok := strings.CutPrefix(attrString(key, attrSK), shardPrefix)
	if !ok {
		return ""
	}
	return id
}

// isShardItem reports whether item is a shard's (not a gap's).
func isShardItem(item map[string]types.AttributeValue) bool {
	return strings.HasPrefix(attrString(item, attrSK), shardPrefix)
}

func gapSortKey(g checkpoint.Gap) string {
	h := sha256.New()
	for _, f := range []string{g.StreamARN, g.ShardID, g.AfterSequence, formatTime(g.From), formatTime(g.DetectedAt), g.Reason} {
		fmt.Fprintf(h, "%d:%s;", len(f), f)
	}
	return gapPrefix + g.DetectedAt.UTC().Format(timeLayout) + "#" + hex.EncodeToString(h.Sum(nil)[:8])
}

// seqKey makes a sequence number comparable as text in a condition expression: two
// decimal digits of length, then the digits without leading zeros ("100" -> "03100";
// nothing stored -> "00"). Numeric order equals text order, for any length a sequence
// number can have (DynamoDB's have 21 to 40 digits). It is this table's own encoding, kept
// in the items of existing tables, so it is not shards.SequenceNumber.Key (whose fixed
// width stops sorting past 40 digits).
func seqKey(seq string) (string, error) {
	if seq != "" && !shards.SequenceNumber(seq).Valid() {
		return "", fmt.Errorf("sequence number %q is not a decimal number", seq)
	}
	digits := strings.TrimLeft(seq, "0")
	if digits == "" && seq != "" {
		digits = "0"
	}
	if len(digits) > 99 {
		return "", fmt.Errorf("sequence number of %d digits is longer than any DynamoDB gives", len(digits))
	}
	return fmt.Sprintf("%02d%s", len(digits), digits), nil
}

func str(s string) types.AttributeValue { return &types.AttributeValueMemberS{Value: s} }

func num(n int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(n, 10)}
}

func boolean(b bool) types.AttributeValue { return &types.AttributeValueMemberBOOL{Value: b} }

func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// attrString returns item's string attribute name, "" when absent or of another type.
func attrString(item map[string]types.AttributeValue, name string) string {
	if v, ok := item[name].(*types.AttributeValueMemberS); ok {
		return v.Value
	}
	return ""
}

// attrBool returns item's boolean attribute name, false when absent.
func attrBool(item map[string]types.AttributeValue, name string) bool {
	v, ok := item[name].(*types.AttributeValueMemberBOOL)
	return ok && v.Value
}

// attrInt returns item's number attribute name; 0 when absent, an error when not an integer.
func attrInt(item map[string]types.AttributeValue, name string) (int64, error) {
	v, ok := item[name]
	if !ok {
		return 0, nil
	}
	n, isNum := v.(*types.AttributeValueMemberN)
	if !isNum {
		return 0, fmt.Errorf("attribute %s is not a number", name)
	}
	i, err := strconv.ParseInt(n.Value, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("attribute %s: %w", name, err)
	}
	return i, nil
}

// attrTime returns item's time attribute name (RFC 3339), zero when absent.
func attrTime(item map[string]types.AttributeValue, name string) (time.Time, error) {
	s := attrString(item, name)
	if s == "" {
		if _, ok := item[name]; ok {
			if _, isStr := item[name].(*types.AttributeValueMemberS); !isStr {
				return time.Time{}, fmt.Errorf("attribute %s is not a string", name)
			}
		}
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("attribute %s: %w", name, err)
	}
	return t.UTC(), nil
}

// hasCheckpoint reports whether a shard item holds a saved position.
func hasCheckpoint(item map[string]types.AttributeValue) bool {
	return attrBool(item, attrCheckpointed)
}

// decodePosition reads the checkpoint of a shard item. Its errors say what is wrong with
// the item; callers wrap them as corrupt.
func decodePosition(item map[string]types.AttributeValue) (checkpoint.Position, error) {
	p := checkpoint.Position{
		StreamARN:      attrString(item, attrStreamARN),
		ShardID:        attrString(item, attrShardID),
		ParentShardID:  attrString(item, attrParentShardID),
		SequenceNumber: attrString(item, attrSequenceNumber),
		Finished:       attrBool(item, attrFinished),
	}
	if want := strings.TrimPrefix(attrString(item, attrSK), shardPrefix); p.ShardID != want {
		return checkpoint.Position{}, fmt.Errorf("item %q holds the position of shard %q", want, p.ShardID)
	}
	if _, err := seqKey(p.SequenceNumber); err != nil {
		return checkpoint.Position{}, fmt.Errorf("shard %q: %w", p.ShardID, err)
	}
	for _, f := range []struct {
		name string
		dst  *time.Time
	}{{attrCoveredFrom, &p.CoveredFrom}, {attrLastRecordTime, &p.LastRecordTime}, {attrCoveredUntil, &p.CoveredUntil}, {attrUpdatedAt, &p.UpdatedAt}} {
		t, err := attrTime(item, f.name)
		if err != nil {
			return checkpoint.Position{}, fmt.Errorf("shard %q: %w", p.ShardID, err)
		}
		*f.dst = t
	}
	return p, nil
}

func decodeGap(item map[string]types.AttributeValue) (checkpoint.Gap, error) {
	g := checkpoint.Gap{
		StreamARN:     attrString(item, attrStreamARN),
		ShardID:       attrString(item, attrShardID),
		AfterSequence: attrString(item, attrAfterSequence),
		Reason:        attrString(item, attrReason),
	}
	if g.ShardID == "" {
		return checkpoint.Gap{}, fmt.Errorf("gap %q names no shard", attrString(item, attrSK))
	}
	if _, err := seqKey(g.AfterSequence); err != nil {
		return checkpoint.Gap{}, fmt.Errorf("gap %q: %w", attrString(item, attrSK), err)
	}
	var err error
	if g.From, err = attrTime(item, attrFrom); err != nil {
		return checkpoint.Gap{}, fmt.Errorf("gap %q: %w", attrString(item, attrSK), err)
	}
	if g.DetectedAt, err = attrTime(item, attrDetectedAt); err != nil {
		return checkpoint.Gap{}, fmt.Errorf("gap %q: %w", attrString(item, attrSK), err)
	}
	return g, nil
}

func encodeGap(app, table string, g checkpoint.Gap) map[string]types.AttributeValue {
	item := map[string]types.AttributeValue{
		attrPK:         str(partitionKey(app, table)),
		attrSK:         str(gapSortKey(g)),
		attrKind:       str(kindGap),
		attrShardID:    str(g.ShardID),
		attrDetectedAt: str(formatTime(g.DetectedAt)),
		attrReason:     str(g.Reason),
	}
	for name, v := range map[string]string{attrStreamARN: g.StreamARN, attrAfterSequence: g.AfterSequence, attrFrom: formatTime(g.From)} {
		if v != "" {
			item[name] = str(v)
		}
	}
	if g.DetectedAt.IsZero() {
		delete(item, attrDetectedAt)
	}
	return item
}
