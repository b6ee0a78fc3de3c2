package fakestreams

import (
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"sort"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"
)

// Errors of the model methods (misuse by a test, not protocol errors).
var (
	ErrUnknownTable  = errors.New("fakestreams: no such table")
	ErrUnknownStream = errors.New("fakestreams: no such stream")
	ErrUnknownShard  = errors.New("fakestreams: no such shard")
	ErrExists        = errors.New("fakestreams: already exists")
	ErrShardClosed   = errors.New("fakestreams: shard is closed; append to its children")
	ErrNoOpenShard   = errors.New("fakestreams: stream has no open shard to put records into")
	ErrBadSequence   = errors.New("fakestreams: not a sequence number of this fake")
)

// TableSpec describes a table of the fake.
type TableSpec struct {
	Name         string
	PartitionKey string // attribute name, type S; "pk" when empty
	SortKey      string // attribute name, type S; none when empty
	// StreamViewType is KEYS_ONLY, NEW_IMAGE, OLD_IMAGE or NEW_AND_OLD_IMAGES; empty
	// creates the table without a stream.
	StreamViewType string
	// GlobalTableVersion and Replicas (region names) make DescribeTable answer as for a
	// global table, which DynamoDB Local cannot create.
	GlobalTableVersion string
	Replicas           []string
}

// Record is a change to append to a shard. The fake assigns the sequence number, the
// event id and the size, and keeps only the images the stream's view type carries.
type Record struct {
	EventName string // INSERT, MODIFY or REMOVE; INSERT when empty
	Keys      map[string]types.AttributeValue
	NewImage  map[string]types.AttributeValue
	OldImage  map[string]types.AttributeValue
	// CreatedAt becomes ApproximateCreationDateTime (whole seconds); Options.Now() when zero.
	CreatedAt time.Time
	// UserIdentity is set by DynamoDB on TTL deletes (PrincipalId dynamodb.amazonaws.com,
	// Type Service).
	UserIdentity *types.Identity
}

type table struct {
	spec          TableSpec
	arn           string
	created       time.Time
	streamARN     string // latest stream, kept after the stream is disabled
	streamEnabled bool
}

type stream struct {
	arn, label, table, viewType string
	keySchema                   []keySchemaOut
	created                     time.Time
	shardOrder                  []string // creation order, as DescribeStream lists them
}

type shard struct {
	id, parent, stream string
	start              uint64
	end                uint64 // 0 while open
	records            []storedRecord
	trimmedUpTo        uint64 // records numbered at or below were trimmed
	removed            bool
	emptyPages         int
}

// storedRecord keeps a record already encoded, so GetRecords only concatenates.
type storedRecord struct {
	n   uint64
	raw json.RawMessage
}

// Sequence numbers are 21 decimal digits like real ones: "3" and a zero-padded counter,
// so text order is numeric order. The counter moves in steps of seqStep, so consecutive
// records never have consecutive numbers (as in DynamoDB), catching code that adds 1.
const seqStep = 100

func formatSeq(n uint64) string { return fmt.Sprintf("3%020d", n) }

func parseSeq(s string) (uint64, bool) {
	if len(s) != 21 || s[0] != '3' {
		return 0, false
	}
	n, err := strconv.ParseUint(s[1:], 10, 64)
	return n, err == nil
}

// nextSeqLocked reserves a new sequence number, above every earlier one of the server.
func (s *Server) nextSeqLocked() uint64 {
	s.seq += seqStep
	return s.seq
}

// ShardID returns a shard id shaped like DynamoDB's ("shardId-" 20 digits "-" 8 hex),
// distinct for each n.
func ShardID(n int) string {
	h := fnv.New32a()
	fmt.Fprint(h, n)
	return fmt.Sprintf("shardId-%020d-%08x", 1700000000000+int64(n), h.Sum32())
}

// CreateTable adds a table and, when spec.StreamViewType is set, its stream (with no
// shards yet: add them with AddShard). It returns the stream ARN ("" without stream).
func (s *Server) CreateTable(spec TableSpec) (string, error) {
	if spec.PartitionKey == "" {
		spec.PartitionKey = "pk"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.tables[spec.Name]; ok || spec.Name == "" {
		return "", fmt.Errorf("create table %q: %w", spec.Name, ErrExists)
	}
	now := s.now()
	t := &table{
		spec:    spec,
		arn:     fmt.Sprintf("arn:aws:dynamodb:%s:%s:table/%s", s.opts.Region, s.opts.AccountID, spec.Name),
		created: now,
	}
	s.tables[spec.Name] = t
	if spec.StreamViewType == "" {
		return "", nil
	}
	return s.newStreamLocked(t, spec.StreamViewType, now), nil
}

// newStreamLocked creates a stream for t (with no shards yet) and makes it t's current,
// enabled stream.
func (s *Server) newStreamLocked(t *table, viewType string, now time.Time) string {
	label := now.UTC().Format("2006-01-02T15:04:05.000")
	st := &stream{
		arn:       t.arn + "/stream/" + label,
		label:     label,
		table:     t.spec.Name,
		viewType:  viewType,
		keySchema: t.keySchema(),
		created:   now,
	}
	// Two tables created in the same millisecond must not share a stream ARN.
	for s.streams[st.arn] != nil {
		st.arn += "0"
	}
	s.streams[st.arn] = st
	s.streamOrder = append(s.streamOrder, st.arn)
	t.streamARN, t.streamEnabled = st.arn, true
	return st.arn
}

// EnableStream gives a table whose stream is disabled (or that never had one) a new
// stream with view type viewType, created now, with no shards yet (add them with
// AddShard), as DynamoDB does: a stream enabled again is a new stream with a new ARN.
func (s *Server) EnableStream(tableName, viewType string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tables[tableName]
	if t == nil {
		return "", fmt.Errorf("enable stream of %s: %w", tableName, ErrUnknownTable)
	}
	if t.streamEnabled {
		return "", fmt.Errorf("enable stream of %s: %w", tableName, ErrExists)
	}
	t.spec.StreamViewType = viewType
	return s.newStreamLocked(t, viewType, s.now()), nil
}

func (t *table) keySchema() []keySchemaOut {
	ks := []keySchemaOut{{AttributeName: t.spec.PartitionKey, KeyType: "HASH"}}
	if t.spec.SortKey != "" {
		ks = append(ks, keySchemaOut{AttributeName: t.spec.SortKey, KeyType: "RANGE"})
	}
	return ks
}

// TableARN returns the ARN of table name ("" when there is none).
func (s *Server) TableARN(name string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t := s.tables[name]; t != nil {
		return t.arn
	}
	return ""
}

// DisableStream disables the table's stream: DescribeTable then shows no stream
// specification but keeps LatestStreamArn, as DynamoDB does, and every open shard of the
// stream is closed. The shards stay readable (DynamoDB keeps them 24 hours).
func (s *Server) DisableStream(tableName string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tables[tableName]
	if t == nil {
		return fmt.Errorf("disable stream of %s: %w", tableName, ErrUnknownTable)
	}
	t.streamEnabled = false
	if st := s.streams[t.streamARN]; st != nil {
		for _, id := range st.shardOrder {
			if sh := s.shards[id]; sh.end == 0 {
				sh.end = s.nextSeqLocked()
			}
		}
	}
	return nil
}

// AddShard adds an open shard to a stream. parentID may name a shard that is not (or no
// longer) listed. Shard ids are unique across the whole server.
func (s *Server) AddShard(streamARN, shardID, parentID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addShardLocked(streamARN, shardID, parentID)
}

func (s *Server) addShardLocked(streamARN, shardID, parentID string) error {
	st := s.streams[streamARN]
	if st == nil {
		return fmt.Errorf("add shard %s: %w: %s", shardID, ErrUnknownStream, streamARN)
	}
	if _, ok := s.shards[shardID]; ok || shardID == "" {
		return fmt.Errorf("add shard %q: %w", shardID, ErrExists)
	}
	s.shards[shardID] = &shard{id: shardID, parent: parentID, stream: streamARN, start: s.nextSeqLocked()}
	st.shardOrder = append(st.shardOrder, shardID)
	return nil
}

func (s *Server) shardLocked(id string) (*shard, error) {
	sh := s.shards[id]
	if sh == nil || sh.removed {
		return nil, fmt.Errorf("shard %s: %w", id, ErrUnknownShard)
	}
	return sh, nil
}

// CloseShard closes a shard: it gets its EndingSequenceNumber, GetRecords returns no
// NextShardIterator after its last record, and it takes no more records.
func (s *Server) CloseShard(shardID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	sh, err := s.shardLocked(shardID)
	if err != nil {
		return fmt.Errorf("close: %w", err)
	}
	if sh.end == 0 {
		sh.end = s.nextSeqLocked()
	}
	return nil
}

// Split closes parentID and adds open children to its stream (two for a split, one for
// a rollover). Records of a key put with Put after the split go to one of the children.
func (s *Server) Split(parentID string, childIDs ...string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, err := s.shardLocked(parentID)
	if err != nil {
		return fmt.Errorf("split: %w", err)
	}
	if p.end != 0 {
		return fmt.Errorf("split %s: %w", parentID, ErrShardClosed)
	}
	for _, id := range childIDs {
		if _, ok := s.shards[id]; ok || id == "" {
			return fmt.Errorf("split %s: child %q: %w", parentID, id, ErrExists)
		}
	}
	p.end = s.nextSeqLocked()
	for _, id := range childIDs {
		if err := s.addShardLocked(p.stream, id, parentID); err != nil {
			return fmt.Errorf("split %s: %w", parentID, err)
		}
	}
	return nil
}

// RemoveShard makes a shard vanish, as DynamoDB does 24 hours after a shard closed: it
// is no longer listed, GetShardIterator and GetRecords on it fail with
// ResourceNotFoundException.
func (s *Server) RemoveShard(shardID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	sh, err := s.shardLocked(shardID)
	if err != nil {
		return fmt.Errorf("remove: %w", err)
	}
	sh.removed = true
	sh.records = nil
	return nil
}

// Trim removes the records of a shard numbered up to and including upToSeq, as the
// 24-hour retention does. Iterators positioned before them, and GetShardIterator
// requests for positions before them, then fail with TrimmedDataAccessException;
// TRIM_HORIZON starts after them.
func (s *Server) Trim(shardID, upToSeq string) error {
	n, ok := parseSeq(upToSeq)
	if !ok {
		return fmt.Errorf("trim %s up to %q: %w", shardID, upToSeq, ErrBadSequence)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sh, err := s.shardLocked(shardID)
	if err != nil {
		return fmt.Errorf("trim: %w", err)
	}
	sh.trimmedUpTo = max(sh.trimmedUpTo, n)
	i := sort.Search(len(sh.records), func(i int) bool { return sh.records[i].n > sh.trimmedUpTo })
	sh.records = slices.Delete(sh.records, 0, i)
	return nil
}

// InjectEmptyPages makes the next n GetRecords calls on the shard return no records and
// an iterator at the same position, as DynamoDB may do inside a closed shard.
func (s *Server) InjectEmptyPages(shardID string, n int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	sh, err := s.shardLocked(shardID)
	if err != nil {
		return fmt.Errorf("inject empty pages: %w", err)
	}
	sh.emptyPages += n
	return nil
}

// ExpireIterators makes every iterator issued so far expired (ExpiredIteratorException).
func (s *Server) ExpireIterators() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.epoch++
}

// SetIteratorTTL sets how long iterators stay valid (DynamoDB: 15 minutes), for
// iterators issued before and after the call alike.
func (s *Server) SetIteratorTTL(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ttl = d
}

// OnGetRecords sets a hook called with the shard id before each GetRecords request that
// reaches the model (after injected faults), outside the server's lock, so it may call
// model methods such as Split or AppendRecords. nil removes it.
func (s *Server) OnGetRecords(f func(shardID string)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.onGetRecords = f
}

// AppendRecords appends records to an open shard and returns their sequence numbers.
func (s *Server) AppendRecords(shardID string, recs ...Record) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sh, err := s.shardLocked(shardID)
	if err != nil {
		return nil, fmt.Errorf("append: %w", err)
	}
	if sh.end != 0 {
		return nil, fmt.Errorf("append to %s: %w", shardID, ErrShardClosed)
	}
	seqs := make([]string, 0, len(recs))
	for _, r := range recs {
		seq, err := s.appendLocked(sh, r)
		if err != nil {
			return seqs, err
		}
		seqs = append(seqs, seq)
	}
	return seqs, nil
}

// Put appends records to a stream, choosing the shard by key as DynamoDB does: a key
// stays on its shard while it is open and then moves to one of that shard's children,
// so per-key order follows lineage. Keys never seen go to an open shard by hash.
func (s *Server) Put(streamARN string, recs ...Record) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.streams[streamARN]
	if st == nil {
		return nil, fmt.Errorf("put: %w: %s", ErrUnknownStream, streamARN)
	}
	seqs := make([]string, 0, len(recs))
	for _, r := range recs {
		key, err := json.Marshal(attributeMap(r.Keys)) // map keys marshal sorted
		if err != nil {
			return seqs, fmt.Errorf("put: encode keys: %w", err)
		}
		sh, err := s.routeLocked(st, string(key))
		if err != nil {
			return seqs, err
		}
		seq, err := s.appendLocked(sh, r)
		if err != nil {
			return seqs, err
		}
		seqs = append(seqs, seq)
	}
	return seqs, nil
}

func (s *Server) routeLocked(st *stream, key string) (*shard, error) {
	h := fnv.New64a()
	h.Write([]byte(key))
	hash := h.Sum64()
	memo := st.arn + "\x00" + key
	if id, ok := s.keyShard[memo]; ok {
		sh := s.shards[id]
		for sh.end != 0 && !sh.removed {
			kids := s.childrenLocked(st, sh.id)
			if len(kids) == 0 {
				break
			}
			sh = kids[hash%uint64(len(kids))]
		}
		if sh.end == 0 && !sh.removed {
			s.keyShard[memo] = sh.id
			return sh, nil
		}
	}
	var open []*shard
	for _, id := range st.shardOrder {
		if sh := s.shards[id]; sh.end == 0 && !sh.removed {
			open = append(open, sh)
		}
	}
	if len(open) == 0 {
		return nil, fmt.Errorf("put to %s: %w", st.arn, ErrNoOpenShard)
	}
	sh := open[hash%uint64(len(open))]
	s.keyShard[memo] = sh.id
	return sh, nil
}

func (s *Server) childrenLocked(st *stream, parentID string) []*shard {
	var kids []*shard
	for _, id := range st.shardOrder {
		if sh := s.shards[id]; sh.parent == parentID && !sh.removed {
			kids = append(kids, sh)
		}
	}
	return kids
}

func (s *Server) appendLocked(sh *shard, r Record) (string, error) {
	st := s.streams[sh.stream]
	n := s.nextSeqLocked()
	seq := formatSeq(n)
	created := r.CreatedAt
	if created.IsZero() {
		created = s.now()
	}
	name := r.EventName
	if name == "" {
		name = "INSERT"
	}
	s.eventN++
	ev := fnv.New64a()
	fmt.Fprint(ev, s.eventN, seq)
	out := recordOut{
		AwsRegion:    s.opts.Region,
		EventID:      fmt.Sprintf("%016x%016x", ev.Sum64(), s.eventN),
		EventName:    name,
		EventSource:  "aws:dynamodb",
		EventVersion: "1.1",
		Dynamodb: streamRecordOut{
			ApproximateCreationDateTime: epochSeconds(created),
			Keys:                        attributeMap(r.Keys),
			SequenceNumber:              seq,
			StreamViewType:              st.viewType,
		},
	}
	if out.Dynamodb.Keys == nil {
		out.Dynamodb.Keys = map[string]any{}
	}
	if st.viewType == "NEW_IMAGE" || st.viewType == "NEW_AND_OLD_IMAGES" {
		out.Dynamodb.NewImage = attributeMap(r.NewImage)
	}
	if st.viewType == "OLD_IMAGE" || st.viewType == "NEW_AND_OLD_IMAGES" {
		out.Dynamodb.OldImage = attributeMap(r.OldImage)
	}
	if id := r.UserIdentity; id != nil {
		out.UserIdentity = &identityOut{PrincipalId: deref(id.PrincipalId), Type: deref(id.Type)}
	}
	// SizeBytes approximates DynamoDB's: the size of keys and images.
	size, err := json.Marshal([]any{out.Dynamodb.Keys, out.Dynamodb.NewImage, out.Dynamodb.OldImage})
	if err != nil {
		return "", fmt.Errorf("append to %s: encode record: %w", sh.id, err)
	}
	out.Dynamodb.SizeBytes = int64(len(size))
	raw, err := json.Marshal(out)
	if err != nil {
		return "", fmt.Errorf("append to %s: encode record: %w", sh.id, err)
	}
	sh.records = append(sh.records, storedRecord{n: n, raw: raw})
	return seq, nil
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// ShardIDs returns the ids of the stream's listed shards in creation order.
func (s *Server) ShardIDs(streamARN string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.streams[streamARN]
	if st == nil {
		return nil
	}
	var out []string
	for _, id := range st.shardOrder {
		if !s.shards[id].removed {
			out = append(out, id)
		}
	}
	return out
}

// Records returns the sequence numbers still readable in a shard.
func (s *Server) Records(shardID string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	sh := s.shards[shardID]
	if sh == nil {
		return nil
	}
	out := make([]string, len(sh.records))
	for i, r := range sh.records {
		out[i] = formatSeq(r.n)
	}
	return out
}
