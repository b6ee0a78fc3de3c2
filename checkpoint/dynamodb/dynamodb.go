// Package dynamodb is the checkpoint store kept in a DynamoDB table ("--checkpoint
// dynamodb://TABLE"), shared by every worker of a fleet and by several pipelines, and the
// shard leases those workers share it by. The table's schema (schema.go) is this
// package's own: nothing else reads or writes its items.
//
// Every item is namespaced by an application name (--app-name, default "ddbtape") and the
// captured table, so pipelines that share one checkpoint table never see each other's
// shards. One item per (app, table, shard) holds the shard's checkpoint and, when workers
// share shards, its lease; one item per recorded gap. Load is a Query of one partition,
// paged.
//
// Writes are conditional, so a stale worker can never move a checkpoint backwards: Save
// refuses a lower sequence number or un-finishing a finished shard (ErrBackwards), and a
// leased shard's store (Lease.Store) also refuses unless the caller still holds the
// shard's lease (ErrLeaseLost), so a slow reader that lost its lease cannot write after
// the new owner started.
//
// # Leases
//
// Leases share the shards of a table's stream among several capture workers the way the
// Kinesis Client Library does: no consensus of our own, only DynamoDB's conditional
// writes. Each shard's item carries a lease owner and a lease counter. A worker's Leases
// renews its leases on a heartbeat by raising the counter under the condition that it is
// still the owner with the counter it last wrote; a failed condition means another worker
// took the lease, and the lease ends (ErrLeaseLost), which cancels the shard reader's
// context (Lease.Bind). A lease whose counter stood still for the lease duration, as seen
// by another worker's own clock, is expired and may be taken; a lease nobody owns (new,
// released on shutdown, or finished) is taken at once. Workers balance by taking leases
// from workers holding more than their fair share, a few per heartbeat. A child shard's
// lease is taken only after its parent is checkpointed as finished, by whichever worker
// held the parent, whatever order the rows were created in (see waitsForParent).
// Checkpoints of a leased shard are saved through Lease.Store, conditional on the lease
// in the same write.
//
// A graceful stop goes: StopTaking, let the readers store and checkpoint what they read
// (leases are still renewed), stop Run (its beat in progress finishes: a write cut off in
// flight may be applied with its answer lost), then Release, which also releases any
// lease the table shows owned by this worker without its knowing.
package dynamodb

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"

	"github.com/ddbtape/ddbtape/checkpoint"
)

var _ checkpoint.Store = (*Store)(nil)

// ErrBackwards is returned (wrapped) by Save when the new position is behind the recorded
// one: a lower sequence number, or un-finishing a finished shard. Another writer got
// further with this shard; this one must stop rather than move the checkpoint back.
var ErrBackwards = checkpoint.ErrBackwards

// errNotHolder is returned (wrapped) by saveAsHolder when the caller no longer holds the
// shard's lease: another worker took it, and only that worker may checkpoint the shard.
// It also matches checkpoint.ErrBackwards: the caller is a stale writer, and retrying
// cannot help.
var errNotHolder error = &staleError{msg: "checkpoint not saved: this worker no longer holds the shard's lease (another worker took it over and continues from the last checkpoint)"}

// staleError is a sentinel that also matches checkpoint.ErrBackwards.
type staleError struct{ msg string }

func (e *staleError) Error() string { return e.msg }
func (e *staleError) Unwrap() error { return checkpoint.ErrBackwards }

// ErrNoTable means the checkpoint table does not exist.
var ErrNoTable = errors.New("checkpoint table not found: create it with --create-checkpoint-table (on-demand billing), or name an existing one in --checkpoint dynamodb://TABLE")

// DefaultApp is the application name when none is given.
const DefaultApp = "ddbtape"

var appName = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,128}$`)

// API is the part of the DynamoDB client the store uses.
type API interface {
	GetItem(ctx context.Context, in *ddb.GetItemInput, optFns ...func(*ddb.Options)) (*ddb.GetItemOutput, error)
	PutItem(ctx context.Context, in *ddb.PutItemInput, optFns ...func(*ddb.Options)) (*ddb.PutItemOutput, error)
	UpdateItem(ctx context.Context, in *ddb.UpdateItemInput, optFns ...func(*ddb.Options)) (*ddb.UpdateItemOutput, error)
	Query(ctx context.Context, in *ddb.QueryInput, optFns ...func(*ddb.Options)) (*ddb.QueryOutput, error)
	DescribeTable(ctx context.Context, in *ddb.DescribeTableInput, optFns ...func(*ddb.Options)) (*ddb.DescribeTableOutput, error)
	CreateTable(ctx context.Context, in *ddb.CreateTableInput, optFns ...func(*ddb.Options)) (*ddb.CreateTableOutput, error)
}

// Store keeps checkpoints in a DynamoDB table. It is safe for concurrent use and holds no
// state of its own: every call reads or writes the table.
type Store struct {
	api   API
	table string
	app   string
}

// New returns a store over the DynamoDB table named table, namespaced by app ("" means
// DefaultApp). App names are 1-128 letters, digits, '_', '-' or '.'.
func New(api API, table, app string) (*Store, error) {
	if app == "" {
		app = DefaultApp
	}
	if !appName.MatchString(app) {
		return nil, fmt.Errorf("application name %q: use 1-128 letters, digits, '_', '-' or '.'", app)
	}
	if table == "" {
		return nil, errors.New("checkpoint table: no name given (dynamodb://TABLE)")
	}
	return &Store{api: api, table: table, app: app}, nil
}

// TableName is the DynamoDB table the store writes to.
func (s *Store) TableName() string { return s.table }

// App is the application name that namespaces the store's items.
func (s *Store) App() string { return s.app }

// Load queries every item of table. Nothing recorded yet gives an empty Table with a
// non-nil Shards map; an unreadable item gives an error wrapping checkpoint.ErrCorrupt.
// Shards tracked by a lease manager but never checkpointed are left out. Gaps come in
// the order they were detected.
func (s *Store) Load(ctx context.Context, table string) (checkpoint.Table, error) {
	out := checkpoint.Table{Table: table, Shards: map[string]checkpoint.Position{}}
	err := s.query(ctx, table, func(item map[string]types.AttributeValue) error {
		sk := attrString(item, attrSK)
		switch {
		case strings.HasPrefix(sk, shardPrefix):
			if !hasCheckpoint(item) {
				return nil
			}
			p, err := decodePosition(item)
			if err != nil {
				return s.corrupt(table, sk, err)
			}
			out.Shards[p.ShardID] = p
		case strings.HasPrefix(sk, gapPrefix):
			g, err := decodeGap(item)
			if err != nil {
				return s.corrupt(table, sk, err)
			}
			out.Gaps = append(out.Gaps, g)
		}
		return nil
	})
	if err != nil {
		return checkpoint.Table{}, err
	}
	return out, nil
}

// query calls f with every item of table's partition, in sort key order, reading
// consistently and paging through the whole partition.
func (s *Store) query(ctx context.Context, table string, f func(map[string]types.AttributeValue) error) error {
	in := &ddb.QueryInput{
		TableName:                 aws.String(s.table),
		KeyConditionExpression:    aws.String("#pk = :pk"),
		ExpressionAttributeNames:  map[string]string{"#pk": attrPK},
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(partitionKey(s.app, table))},
		ConsistentRead:            aws.Bool(true),
	}
	for {
		page, err := s.api.Query(ctx, in)
		if err != nil {
			return s.wrap(fmt.Sprintf("load checkpoint of %s", table), err)
		}
		for _, item := range page.Items {
			if err := f(item); err != nil {
				return err
			}
		}
		if len(page.LastEvaluatedKey) == 0 {
			return nil
		}
		in.ExclusiveStartKey = page.LastEvaluatedKey
	}
}

// Save records pos for its shard. It refuses, with an error wrapping ErrBackwards, a
// position whose sequence number is lower than the recorded one or that un-finishes a
// finished shard. It leaves the shard's lease attributes as they are.
func (s *Store) Save(ctx context.Context, table string, pos checkpoint.Position) error {
	return s.save(ctx, table, pos, nil)
}

// leaseHolder names a lease holder for saveAsHolder: the owner and the lease counter it holds.
type leaseHolder struct {
	Owner   string
	Counter int64
}

// saveAsHolder is Save, done only while h holds the shard's lease: the item's owner and
// counter must be h's. It fails with an error wrapping errNotHolder otherwise. Saving a
// finished position also ends the lease (the owner is removed): a finished shard needs no
// reader.
func (s *Store) saveAsHolder(ctx context.Context, table string, pos checkpoint.Position, h leaseHolder) error {
	return s.save(ctx, table, pos, &h)
}

func (s *Store) save(ctx context.Context, table string, pos checkpoint.Position, h *leaseHolder) error {
	if pos.ShardID == "" {
		return fmt.Errorf("save checkpoint of %s: position names no shard", table)
	}
	key, err := seqKey(pos.SequenceNumber)
	if err != nil {
		return fmt.Errorf("save checkpoint of %s shard %s: %w", table, pos.ShardID, err)
	}
	u := newUpdate()
	u.set(attrKind, str(kindShard))
	u.set(attrShardID, str(pos.ShardID))
	u.set(attrSeqKey, str(key))
	u.set(attrFinished, boolean(pos.Finished))
	u.set(attrCheckpointed, boolean(true))
	for name, v := range map[string]string{
		attrStreamARN:      pos.StreamARN,
		attrParentShardID:  pos.ParentShardID,
		attrSequenceNumber: pos.SequenceNumber,
		attrCoveredFrom:    formatTime(pos.CoveredFrom),
		attrLastRecordTime: formatTime(pos.LastRecordTime),
		attrCoveredUntil:   formatTime(pos.CoveredUntil),
		attrUpdatedAt:      formatTime(pos.UpdatedAt),
	} {
		if v == "" {
			u.remove(name)
		} else {
			u.set(name, str(v))
		}
	}
	cond := fmt.Sprintf("(attribute_not_exists(%s) OR %s <= %s)", u.name(attrSeqKey), u.name(attrSeqKey), u.value(str(key)))
	if !pos.Finished {
		cond += fmt.Sprintf(" AND (attribute_not_exists(%s) OR %s = %s)", u.name(attrFinished), u.name(attrFinished), u.value(boolean(false)))
	}
	if h != nil {
		cond += fmt.Sprintf(" AND %s = %s AND %s = %s", u.name(attrLeaseOwner), u.value(str(h.Owner)), u.name(attrLeaseCounter), u.value(num(h.Counter)))
		if pos.Finished {
			u.remove(attrLeaseOwner)
			u.remove(attrLeaseExpiresAt)
			u.set(attrLeaseCounter, num(h.Counter+1))
		}
	}
	_, err = s.api.UpdateItem(ctx, &ddb.UpdateItemInput{
		TableName:                           aws.String(s.table),
		Key:                                 shardKey(s.app, table, pos.ShardID),
		UpdateExpression:                    aws.String(u.expression()),
		ConditionExpression:                 aws.String(cond),
		ExpressionAttributeNames:            u.names,
		ExpressionAttributeValues:           u.values,
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	if err == nil {
		return nil
	}
	var failed *types.ConditionalCheckFailedException
	if !errors.As(err, &failed) {
		return s.wrap(fmt.Sprintf("save checkpoint of %s shard %s", table, pos.ShardID), err)
	}
	old := failed.Item
	if old == nil {
		// Older servers do not return the item with the failure: read it.
		got, gerr := s.api.GetItem(ctx, &ddb.GetItemInput{TableName: aws.String(s.table), Key: shardKey(s.app, table, pos.ShardID), ConsistentRead: aws.Bool(true)})
		if gerr != nil {
			return s.wrap(fmt.Sprintf("save checkpoint of %s shard %s: read the item after a failed condition", table, pos.ShardID), gerr)
		}
		old = got.Item
	}
	if h != nil {
		counter, _ := attrInt(old, attrLeaseCounter)
		if owner := attrString(old, attrLeaseOwner); owner != h.Owner || counter != h.Counter {
			if owner == "" {
				owner = "nobody"
			}
			return fmt.Errorf("save checkpoint of %s shard %s: the lease is held by %s (counter %d), not by %s (counter %d): %w",
				table, pos.ShardID, owner, counter, h.Owner, h.Counter, errNotHolder)
		}
	}
	if attrBool(old, attrFinished) && !pos.Finished {
		return fmt.Errorf("save checkpoint of %s shard %s as unfinished, but it is recorded finished: %w", table, pos.ShardID, ErrBackwards)
	}
	return fmt.Errorf("save checkpoint of %s shard %s at sequence %q, behind the recorded %q: %w",
		table, pos.ShardID, pos.SequenceNumber, attrString(old, attrSequenceNumber), ErrBackwards)
}

// AddGap records gap; recording the same gap again changes nothing (its item's key is
// derived from its content).
func (s *Store) AddGap(ctx context.Context, table string, gap checkpoint.Gap) error {
	if gap.ShardID == "" {
		return fmt.Errorf("add gap to checkpoint of %s: gap names no shard", table)
	}
	if _, err := seqKey(gap.AfterSequence); err != nil {
		return fmt.Errorf("add gap to checkpoint of %s shard %s: %w", table, gap.ShardID, err)
	}
	_, err := s.api.PutItem(ctx, &ddb.PutItemInput{TableName: aws.String(s.table), Item: encodeGap(s.app, table, gap)})
	if err != nil {
		return s.wrap(fmt.Sprintf("add gap to checkpoint of %s shard %s", table, gap.ShardID), err)
	}
	return nil
}

// EnsureTable checks that the checkpoint table exists with the expected key. With create
// set it creates a missing table (on-demand billing, so an idle fleet costs nothing) and
// waits up to wait until it is ACTIVE. A missing table without create is ErrNoTable.
func (s *Store) EnsureTable(ctx context.Context, create bool, wait time.Duration) error {
	out, err := s.api.DescribeTable(ctx, &ddb.DescribeTableInput{TableName: aws.String(s.table)})
	if isCode(err, "ResourceNotFoundException") {
		if !create {
			return fmt.Errorf("checkpoint table %s: %w", s.table, ErrNoTable)
		}
		if err := s.createTable(ctx); err != nil {
			return err
		}
	} else if err != nil {
		return fmt.Errorf("describe checkpoint table %s: %w", s.table, err)
	} else if err := checkKeySchema(s.table, out.Table); err != nil {
		return err
	}
	if out != nil && out.Table != nil && out.Table.TableStatus == types.TableStatusActive {
		return nil
	}
	waiter := ddb.NewTableExistsWaiter(s.api)
	if err := waiter.Wait(ctx, &ddb.DescribeTableInput{TableName: aws.String(s.table)}, wait); err != nil {
		return fmt.Errorf("wait for checkpoint table %s to become ACTIVE: %w", s.table, err)
	}
	return nil
}

func (s *Store) createTable(ctx context.Context) error {
	_, err := s.api.CreateTable(ctx, &ddb.CreateTableInput{
		TableName:   aws.String(s.table),
		BillingMode: types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{
			{AttributeName: aws.String(attrPK), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: aws.String(attrSK), AttributeType: types.ScalarAttributeTypeS},
		},
		KeySchema: []types.KeySchemaElement{
			{AttributeName: aws.String(attrPK), KeyType: types.KeyTypeHash},
			{AttributeName: aws.String(attrSK), KeyType: types.KeyTypeRange},
		},
	})
	// Another worker of the fleet may be creating it at the same moment.
	if err != nil && !isCode(err, "ResourceInUseException") {
		return fmt.Errorf("create checkpoint table %s: %w", s.table, err)
	}
	return nil
}

func checkKeySchema(name string, t *types.TableDescription) error {
	if t == nil {
		return fmt.Errorf("describe checkpoint table %s: no description returned", name)
	}
	var hash, rng string
	for _, k := range t.KeySchema {
		switch k.KeyType {
		case types.KeyTypeHash:
			hash = aws.ToString(k.AttributeName)
		case types.KeyTypeRange:
			rng = aws.ToString(k.AttributeName)
		}
	}
	if hash != attrPK || rng != attrSK {
		return fmt.Errorf("table %s is not a ddbtape checkpoint table: its key is (%q, %q), want (%q, %q) of type S; name another table", name, hash, rng, attrPK, attrSK)
	}
	return nil
}

// corruptError reads as one line naming the item and what to do, and wraps both
// checkpoint.ErrCorrupt and the cause.
type corruptError struct {
	table, pk, sk string
	cause         error
}

func (e *corruptError) Error() string {
	return fmt.Sprintf("checkpoint item (pk %q, sk %q) in DynamoDB table %s is corrupt: %v; delete the item to start that shard over from the stream's trim horizon, or restore the table from backup",
		e.pk, e.sk, e.table, e.cause)
}

func (e *corruptError) Unwrap() []error { return []error{checkpoint.ErrCorrupt, e.cause} }

func (s *Store) corrupt(table, sk string, cause error) error {
	return &corruptError{table: s.table, pk: partitionKey(s.app, table), sk: sk, cause: cause}
}

// wrap names the operation and turns a missing table into ErrNoTable.
func (s *Store) wrap(op string, err error) error {
	if isCode(err, "ResourceNotFoundException") {
		return fmt.Errorf("%s: table %s: %w", op, s.table, ErrNoTable)
	}
	return fmt.Errorf("%s: %w", op, err)
}

func isCode(err error, code string) bool {
	var apiErr smithy.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode() == code
}

// update builds an UpdateExpression with placeholders for every name and value (several
// attribute names, e.g. "from", are reserved words).
type update struct {
	sets, removes []string
	names         map[string]string
	values        map[string]types.AttributeValue
}

func newUpdate() *update {
	return &update{names: map[string]string{}, values: map[string]types.AttributeValue{}}
}

func (u *update) name(attr string) string {
	ph := "#" + attr
	u.names[ph] = attr
	return ph
}

func (u *update) value(v types.AttributeValue) string {
	ph := fmt.Sprintf(":v%d", len(u.values))
	u.values[ph] = v
	return ph
}

func (u *update) set(attr string, v types.AttributeValue) {
	u.sets = append(u.sets, u.name(attr)+" = "+u.value(v))
}

func (u *update) remove(attr string) { u.removes = append(u.removes, u.name(attr)) }

func (u *update) expression() string {
	sort.Strings(u.sets) // a stable expression reads better in request logs
	sort.Strings(u.removes)
	expr := "SET " + strings.Join(u.sets, ", ")
	if len(u.removes) > 0 {
		expr += " REMOVE " + strings.Join(u.removes, ", ")
	}
	return expr
}
