package snapshot

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/ddbtape/ddbtape/storage"
	"github.com/ddbtape/ddbtape/writer"
)

// The state of a running snapshot lives beside its parts, so a resumed run needs nothing
// but the destination and the id:
//
//	<id>/state/job.json               what the snapshot is: table, start, segment count
//	<id>/state/segment-NNNNN.json     per segment: where the scan stands and what it stored
//
// A segment's state is saved only after the part holding its latest pages is stored, and
// parts are cut at page boundaries, so the saved LastEvaluatedKey always matches exactly
// the rows in the parts the state lists. Parts uploaded but not yet listed (a crash between
// upload and save) are orphans: never in the manifest. The state and the orphans stay in
// the directory of a complete snapshot (a snapshot deletes nothing: see Stats.Orphans);
// readers read the manifest's parts only, and retention deletes the directory whole.
const (
	stateDir     = "state/"
	jobStateName = stateDir + "job.json"
)

func segmentStateName(segment int) string {
	return fmt.Sprintf("%ssegment-%05d.json", stateDir, segment)
}

// jobState is what a snapshot is, fixed when it starts.
type jobState struct {
	SnapshotID    string    `json:"snapshot_id"`
	TableName     string    `json:"table_name"`
	TableARN      string    `json:"table_arn"`
	TableCreated  time.Time `json:"table_created"` // tells a table recreated under the same name
	StartedAt     time.Time `json:"started_at"`
	TotalSegments int       `json:"total_segments"`
	Consistent    bool      `json:"consistent,omitempty"`
}

// segmentState is how far one segment of the parallel scan has been stored.
type segmentState struct {
	Segment int `json:"segment"`
	// LastEvaluatedKey is the scan position after the last stored page, DynamoDB JSON;
	// empty before the first page.
	LastEvaluatedKey string                `json:"last_evaluated_key,omitempty"`
	Parts            []writer.ManifestPart `json:"parts"`
	Rows             int64                 `json:"rows"`
	ItemBytes        int64                 `json:"item_bytes"` // DynamoDB JSON bytes of the rows, for progress
	Done             bool                  `json:"done"`
	UpdatedAt        time.Time             `json:"updated_at"`
}

func putJSON(ctx context.Context, b storage.Bucket, key string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode %s: %w", key, err)
	}
	if err := b.Put(ctx, key, bytes.NewReader(append(data, '\n'))); err != nil {
		return fmt.Errorf("write %s: %w", key, err)
	}
	return nil
}

// getJSON reads key into v; the error wraps storage.ErrNotFound when it is missing.
func getJSON(ctx context.Context, b storage.Bucket, key string, v any) error {
	r, err := b.Open(ctx, key)
	if err != nil {
		return fmt.Errorf("read %s: %w", key, err)
	}
	defer r.Close()
	data, err := io.ReadAll(r)
	if err != nil {
		return fmt.Errorf("read %s: %w", key, err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrStateCorrupt, key, err)
	}
	return nil
}

// loadSegments reads every segment state of a snapshot. Segments that never saved one are
// absent from the map: they start from the beginning.
func loadSegments(ctx context.Context, b storage.Bucket, total int) (map[int]*segmentState, error) {
	objs, err := b.List(ctx, stateDir+"segment-")
	if err != nil {
		return nil, fmt.Errorf("list segment states: %w", err)
	}
	out := map[int]*segmentState{}
	for _, o := range objs {
		if !strings.HasSuffix(o.Key, ".json") {
			continue // a temporary file of an interrupted write
		}
		var st segmentState
		if err := getJSON(ctx, b, o.Key, &st); err != nil {
			if errors.Is(err, storage.ErrNotFound) {
				continue
			}
			return nil, err
		}
		if st.Segment < 0 || st.Segment >= total || o.Key != segmentStateName(st.Segment) {
			return nil, fmt.Errorf("%w: %s names segment %d of %d", ErrStateCorrupt, o.Key, st.Segment, total)
		}
		out[st.Segment] = &st
	}
	return out, nil
}
