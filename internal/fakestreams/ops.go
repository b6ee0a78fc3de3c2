package fakestreams

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// iterState is what a shard iterator encodes: the shard, the position (records numbered
// above after are next), when it was issued, and the expiry epoch it belongs to.
type iterState struct {
	shard  string
	after  uint64
	issued int64 // unix nanoseconds
	epoch  int
}

// Iterators carry their state, so the server keeps no table of them (benchmarks issue
// millions).
const iterPrefix = "fakestreams1|"

func (it iterState) encode() string {
	raw := fmt.Sprintf("%s|%d|%d|%d", it.shard, it.after, it.issued, it.epoch)
	return iterPrefix + base64.RawURLEncoding.EncodeToString([]byte(raw))
}

func parseIterator(s string) (iterState, bool) {
	rest, ok := strings.CutPrefix(s, iterPrefix)
	if !ok {
		return iterState{}, false
	}
	raw, err := base64.RawURLEncoding.DecodeString(rest)
	if err != nil {
		return iterState{}, false
	}
	f := strings.Split(string(raw), "|")
	if len(f) != 4 {
		return iterState{}, false
	}
	after, err1 := strconv.ParseUint(f[1], 10, 64)
	issued, err2 := strconv.ParseInt(f[2], 10, 64)
	epoch, err3 := strconv.Atoi(f[3])
	if err1 != nil || err2 != nil || err3 != nil {
		return iterState{}, false
	}
	return iterState{shard: f[0], after: after, issued: issued, epoch: epoch}, true
}

func limitOf(p *int32, max int32) (int, *apiError) {
	if p == nil {
		return int(max), nil
	}
	if *p < 1 || *p > max {
		return 0, errValidation("1 validation error detected: Value '%d' at 'limit' failed to satisfy constraint: Member must have value between 1 and %d", *p, max)
	}
	return int(*p), nil
}

func (s *Server) describeStream(in describeStreamIn) (any, *apiError) {
	limit, aerr := limitOf(in.Limit, 100)
	if aerr != nil {
		return nil, aerr
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.streams[in.StreamArn]
	if st == nil {
		return nil, errNotFound("Requested resource not found: Stream: %s not found", in.StreamArn)
	}
	var listed []*shard
	for _, id := range st.shardOrder {
		if sh := s.shards[id]; !sh.removed {
			listed = append(listed, sh)
		}
	}
	from := 0
	if in.ExclusiveStartShardId != nil {
		i := slices.IndexFunc(listed, func(sh *shard) bool { return sh.id == *in.ExclusiveStartShardId })
		if i < 0 {
			return nil, errValidation("ExclusiveStartShardId %s is not a shard of the stream", *in.ExclusiveStartShardId)
		}
		from = i + 1
	}
	to := min(from+limit, len(listed))
	d := streamDescriptionOut{
		StreamArn:               st.arn,
		StreamLabel:             st.label,
		StreamStatus:            "ENABLED",
		StreamViewType:          st.viewType,
		TableName:               st.table,
		CreationRequestDateTime: epochSeconds(st.created),
		KeySchema:               st.keySchema,
		Shards:                  []shardOut{},
	}
	if t := s.tables[st.table]; t != nil && (!t.streamEnabled || t.streamARN != st.arn) {
		d.StreamStatus = "DISABLED"
	}
	for _, sh := range listed[from:to] {
		o := shardOut{ShardId: sh.id, ParentShardId: sh.parent, SequenceNumberRange: seqRangeOut{StartingSequenceNumber: formatSeq(sh.start)}}
		if sh.end != 0 {
			o.SequenceNumberRange.EndingSequenceNumber = formatSeq(sh.end)
		}
		d.Shards = append(d.Shards, o)
	}
	if to < len(listed) {
		d.LastEvaluatedShardId = listed[to-1].id
	}
	return describeStreamOut{StreamDescription: d}, nil
}

func (s *Server) getShardIterator(in getShardIteratorIn) (any, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.streams[in.StreamArn]
	if st == nil {
		return nil, errNotFound("Requested resource not found: Stream: %s not found", in.StreamArn)
	}
	sh := s.shards[in.ShardId]
	if sh == nil || sh.removed || sh.stream != st.arn {
		return nil, errNotFound("Requested resource not found: Shard does not exist")
	}
	var seq uint64
	if in.ShardIteratorType == "AT_SEQUENCE_NUMBER" || in.ShardIteratorType == "AFTER_SEQUENCE_NUMBER" {
		n, ok := parseSeq(derefOr(in.SequenceNumber))
		if !ok {
			return nil, errValidation("Invalid SequenceNumber: %q", derefOr(in.SequenceNumber))
		}
		seq = n
	}
	var after uint64
	switch in.ShardIteratorType {
	case "TRIM_HORIZON":
		after = sh.trimmedUpTo
	case "LATEST":
		after = sh.start
		if n := len(sh.records); n > 0 {
			after = sh.records[n-1].n
		}
		if sh.end != 0 {
			after = max(after, sh.end)
		}
	case "AT_SEQUENCE_NUMBER":
		after = max(seq, 1) - 1
	case "AFTER_SEQUENCE_NUMBER":
		after = seq
	default:
		return nil, errValidation("Invalid ShardIteratorType: %q", in.ShardIteratorType)
	}
	if after < sh.trimmedUpTo {
		return nil, &apiError{http.StatusBadRequest, "TrimmedDataAccessException",
			fmt.Sprintf("Attempted to access data that has been trimmed: %s %s", in.ShardIteratorType, formatSeq(seq))}
	}
	it := iterState{shard: sh.id, after: after, issued: s.now().UnixNano(), epoch: s.epoch}
	return getShardIteratorOut{ShardIterator: it.encode()}, nil
}

func (s *Server) getRecords(in getRecordsIn) (any, *apiError) {
	limit, aerr := limitOf(in.Limit, 1000)
	if aerr != nil {
		return nil, aerr
	}
	it, ok := parseIterator(in.ShardIterator)
	if !ok {
		return nil, errValidation("Invalid ShardIterator")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	issued := time.Unix(0, it.issued)
	if it.epoch < s.epoch || now.Sub(issued) > s.ttl {
		return nil, &apiError{http.StatusBadRequest, "ExpiredIteratorException", fmt.Sprintf(
			"Iterator expired. The iterator was created at time %s while right now it is %s which is further in the future than the tolerated delay of %d milliseconds.",
			issued.UTC().Format(time.RFC1123), now.UTC().Format(time.RFC1123), s.ttl.Milliseconds())}
	}
	sh := s.shards[it.shard]
	if sh == nil || sh.removed {
		return nil, errNotFound("Requested resource not found: Shard does not exist")
	}
	if it.after < sh.trimmedUpTo {
		return nil, &apiError{http.StatusBadRequest, "TrimmedDataAccessException", "Attempted to access data that has been trimmed"}
	}
	out := getRecordsOut{Records: []json.RawMessage{}}
	next := it
	next.issued, next.epoch = now.UnixNano(), s.epoch
	if sh.emptyPages > 0 {
		sh.emptyPages--
		out.NextShardIterator = next.encode()
		return out, nil
	}
	i := sort.Search(len(sh.records), func(i int) bool { return sh.records[i].n > it.after })
	j := min(i+limit, len(sh.records))
	for _, r := range sh.records[i:j] {
		out.Records = append(out.Records, r.raw)
	}
	if j > i {
		next.after = sh.records[j-1].n
	}
	// A closed shard read to its end has no next iterator: that is how a reader learns it
	// may move on to the children.
	if sh.end == 0 || j < len(sh.records) {
		out.NextShardIterator = next.encode()
	}
	return out, nil
}

func derefOr(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func (s *Server) listStreams(in listStreamsIn) (any, *apiError) {
	limit, aerr := limitOf(in.Limit, 100)
	if aerr != nil {
		return nil, aerr
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var arns []string
	for _, arn := range s.streamOrder {
		if in.TableName == nil || s.streams[arn].table == *in.TableName {
			arns = append(arns, arn)
		}
	}
	from := 0
	if in.ExclusiveStartStreamArn != nil {
		from = slices.Index(arns, *in.ExclusiveStartStreamArn) + 1
	}
	to := min(from+limit, len(arns))
	out := listStreamsOut{Streams: []streamOut{}}
	for _, arn := range arns[from:to] {
		st := s.streams[arn]
		out.Streams = append(out.Streams, streamOut{StreamArn: st.arn, StreamLabel: st.label, TableName: st.table})
	}
	if to < len(arns) {
		out.LastEvaluatedStreamArn = arns[to-1]
	}
	return out, nil
}

func (s *Server) describeTable(in describeTableIn) (any, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tables[in.TableName]
	if t == nil {
		return nil, errNotFound("Requested resource not found: Table: %s not found", in.TableName)
	}
	o := tableOut{
		TableName:        t.spec.Name,
		TableArn:         t.arn,
		TableId:          fmt.Sprintf("00000000-0000-4000-8000-%012x", len(t.spec.Name)),
		TableStatus:      "ACTIVE",
		CreationDateTime: epochSeconds(t.created),
		KeySchema:        t.keySchema(),
		AttributeDefinitions: []attributeDefinitionOut{
			{AttributeName: t.spec.PartitionKey, AttributeType: "S"},
		},
	}
	o.BillingModeSummary.BillingMode = "PAY_PER_REQUEST"
	if t.spec.SortKey != "" {
		o.AttributeDefinitions = append(o.AttributeDefinitions, attributeDefinitionOut{AttributeName: t.spec.SortKey, AttributeType: "S"})
	}
	o.GlobalTableVersion = t.spec.GlobalTableVersion
	for _, r := range t.spec.Replicas {
		o.Replicas = append(o.Replicas, replicaOut{RegionName: r, ReplicaStatus: "ACTIVE"})
	}
	if t.streamARN != "" {
		st := s.streams[t.streamARN]
		o.LatestStreamArn, o.LatestStreamLabel = st.arn, st.label
		if t.streamEnabled {
			o.StreamSpecification = &streamSpecificationOut{StreamEnabled: true, StreamViewType: st.viewType}
		}
	}
	return describeTableOut{Table: o}, nil
}
