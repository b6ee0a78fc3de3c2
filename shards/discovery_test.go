package shards

import (
	"context"
	"errors"
	"log/slog"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/smithy-go"
	"github.com/ddbtape/ddbtape/globaltable"
	"github.com/ddbtape/ddbtape/internal/fakestreams"
)

func TestStreamOf(t *testing.T) {
	fake := fakestreams.Start()
	t.Cleanup(fake.Close)
	mk := func(name, view string) string {
		arn, err := fake.CreateTable(fakestreams.TableSpec{Name: name, StreamViewType: view})
		if err != nil {
			t.Fatal(err)
		}
		return arn
	}
	mk("nostream", "")
	mk("keysonly", "KEYS_ONLY")
	mk("oldimage", "OLD_IMAGE")
	mk("disabled", ViewNewAndOldImages)
	if err := fake.DisableStream("disabled"); err != nil {
		t.Fatal(err)
	}
	newImage := mk("newimage", ViewNewImage)
	both := mk("both", ViewNewAndOldImages)
	global, err := fake.CreateTable(fakestreams.TableSpec{Name: "global", StreamViewType: ViewNewAndOldImages,
		GlobalTableVersion: globaltable.Version2019, Replicas: []string{"us-east-1", "eu-west-1"}})
	if err != nil {
		t.Fatal(err)
	}
	api := dynamodb.NewFromConfig(fake.Config())

	tests := []struct {
		table   string
		wantErr error
		want    Stream
		mention string // the error must tell the operator this
	}{
		{table: "missing", wantErr: ErrTableNotFound, mention: "region"},
		{table: "nostream", wantErr: ErrNoStream, mention: "aws dynamodb update-table --table-name nostream --stream-specification StreamEnabled=true,StreamViewType=NEW_AND_OLD_IMAGES"},
		{table: "disabled", wantErr: ErrNoStream, mention: "--table-name disabled"},
		{table: "keysonly", wantErr: ErrViewType, mention: "KEYS_ONLY"},
		{table: "oldimage", wantErr: ErrViewType, mention: "OLD_IMAGE"},
		{table: "newimage", want: Stream{TableARN: fake.TableARN("newimage"), StreamARN: newImage, ViewType: ViewNewImage, Table: globaltable.Info{Region: "us-east-1"}}},
		{table: "both", want: Stream{TableARN: fake.TableARN("both"), StreamARN: both, ViewType: ViewNewAndOldImages, Table: globaltable.Info{Region: "us-east-1"}}},
		{table: "global", want: Stream{TableARN: fake.TableARN("global"), StreamARN: global, ViewType: ViewNewAndOldImages,
			Table: globaltable.Info{Region: "us-east-1", Version: globaltable.Version2019, Replicas: []string{"eu-west-1", "us-east-1"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.table, func(t *testing.T) {
			got, err := StreamOf(context.Background(), api, tt.table)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("StreamOf = %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				if !strings.Contains(err.Error(), tt.mention) {
					t.Errorf("error %q does not mention %q", err, tt.mention)
				}
				return
			}
			if !reflect.DeepEqual(got, tt.want) || got.TableARN == "" || got.StreamARN == "" {
				t.Errorf("StreamOf = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestCheckViewType(t *testing.T) {
	for v, ok := range map[string]bool{"NEW_AND_OLD_IMAGES": true, "NEW_IMAGE": true, "OLD_IMAGE": false, "KEYS_ONLY": false, "": false} {
		if err := CheckViewType(v); (err == nil) != ok || (err != nil && !errors.Is(err, ErrViewType)) {
			t.Errorf("CheckViewType(%q) = %v, want ok=%v", v, err, ok)
		}
	}
}

func TestListShards_PagesDescribeStreamOver250Shards(t *testing.T) {
	e := newEnv(t)
	var want []string
	for i := range 250 {
		id := fakestreams.ShardID(i)
		parent := ""
		if i > 0 && i%5 != 0 {
			parent = fakestreams.ShardID(i - 1) // chains of rollovers
		}
		e.addShard(id, parent)
		want = append(want, id)
	}
	e.fake.FailNext(fakestreams.OpDescribeStream, 1, fakestreams.LimitExceeded) // 10/s per account: it happens
	got, err := e.reader().ListShards(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, s := range got {
		ids = append(ids, s.ID)
		if s.StartingSequence == "" {
			t.Errorf("shard %s has no starting sequence number", s.ID)
		}
	}
	if !slices.Equal(ids, want) {
		t.Fatalf("listed %d shards, want 250 in order", len(ids))
	}
	if got[1].ParentID != want[0] || got[5].ParentID != "" {
		t.Errorf("parents not kept: %+v %+v", got[1], got[5])
	}
	if n := e.fake.Calls(fakestreams.OpDescribeStream); n != 4 {
		t.Errorf("DescribeStream calls = %d, want 4 (3 pages of 100 and one throttled)", n)
	}
	if l := BuildLineage(got); len(l.Roots()) != 50 {
		t.Errorf("lineage of the listing has %d roots, want 50", len(l.Roots()))
	}
}

func TestListShards_ReportsClosedShards(t *testing.T) {
	e := newEnv(t)
	e.addShard("p", "")
	if err := e.fake.Split("p", "c1", "c2"); err != nil {
		t.Fatal(err)
	}
	got, err := ListShards(context.Background(), e.client, e.streamARN)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0].Open() || !got[1].Open() || got[1].ParentID != "p" || got[2].ParentID != "p" {
		t.Errorf("ListShards = %+v", got)
	}
}

func TestListShards_UnknownStreamFails(t *testing.T) {
	e := newEnv(t)
	_, err := ListShards(context.Background(), e.client, e.streamARN+"-nope")
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) || apiErr.ErrorCode() != "ResourceNotFoundException" {
		t.Fatalf("ListShards = %v, want ResourceNotFoundException", err)
	}
}

// countingHandler is a slog.Handler that counts messages.
type countingHandler struct {
	mu   sync.Mutex
	msgs []string
}

func (h *countingHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *countingHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.msgs = append(h.msgs, r.Message)
	return nil
}
func (h *countingHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *countingHandler) WithGroup(string) slog.Handler      { return h }

func (h *countingHandler) count(msg string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, m := range h.msgs {
		if m == msg {
			n++
		}
	}
	return n
}

func slogLogger(h slog.Handler) *slog.Logger { return slog.New(h) }

func TestStreamOf_RetriesTransientFailures(t *testing.T) {
	fake := fakestreams.Start()
	t.Cleanup(fake.Close)
	arn, err := fake.CreateTable(fakestreams.TableSpec{Name: "orders", StreamViewType: ViewNewAndOldImages})
	if err != nil {
		t.Fatal(err)
	}
	fake.FailNext(fakestreams.OpDescribeTable, 1, fakestreams.InternalServerError)
	fake.FailNext(fakestreams.OpDescribeTable, 1, fakestreams.ConnectionReset)
	fake.FailNext(fakestreams.OpDescribeTable, 1, fakestreams.Throttling)
	s, err := StreamOf(context.Background(), dynamodb.NewFromConfig(fake.Config()), "orders")
	if err != nil {
		t.Fatalf("StreamOf gave up on transient failures: %v", err)
	}
	if s.StreamARN != arn {
		t.Errorf("stream %s, want %s", s.StreamARN, arn)
	}
	if n := fake.Calls(fakestreams.OpDescribeTable); n != 4 {
		t.Errorf("%d DescribeTable calls, want 4 (three failures, then the answer)", n)
	}
}
