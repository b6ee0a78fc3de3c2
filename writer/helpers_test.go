package writer

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ddbtape/ddbtape/storage"
)

// memBucket is an in-memory storage.Bucket with hooks to inject failures.
type memBucket struct {
	mu      sync.Mutex
	objects map[string][]byte
	creates int
	// createErr, when set, is returned by Create before anything is stored.
	createErr error
}

func newMemBucket() *memBucket { return &memBucket{objects: map[string][]byte{}} }

func (b *memBucket) Create(ctx context.Context, key string, r io.Reader) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.creates++
	if b.createErr != nil {
		return b.createErr
	}
	if _, ok := b.objects[key]; ok {
		return fmt.Errorf("create %s: %w", key, storage.ErrExists)
	}
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	b.objects[key] = data
	return nil
}

func (b *memBucket) Put(ctx context.Context, key string, r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.objects[key] = data
	return nil
}

func (b *memBucket) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	data, ok := b.objects[key]
	if !ok {
		return nil, fmt.Errorf("open %s: %w", key, storage.ErrNotFound)
	}
	return io.NopCloser(bytes.NewReader(data)), nil
}

func (b *memBucket) List(ctx context.Context, prefix string) ([]storage.Object, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []storage.Object
	for k, v := range b.objects {
		if strings.HasPrefix(k, prefix) {
			out = append(out, storage.Object{Key: k, Size: int64(len(v))})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

func (b *memBucket) Delete(ctx context.Context, key string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.objects, key)
	return nil
}

func (b *memBucket) get(t *testing.T, key string) []byte {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	data, ok := b.objects[key]
	if !ok {
		keys := make([]string, 0, len(b.objects))
		for k := range b.objects {
			keys = append(keys, k)
		}
		t.Fatalf("no object %s; have %v", key, keys)
	}
	return data
}

func ptr(s string) *string { return &s }

var baseTime = time.Date(2024, 5, 17, 10, 42, 17, 0, time.UTC)

// change makes a realistic change of shard "shardId-00000001-abc" with sequence number seq.
func change(seq int) Change {
	img := fmt.Sprintf(`{"n":{"N":"%d"},"pk":{"S":"k%d"}}`, seq, seq%7)
	return Change{
		TableName:               "orders",
		StreamARN:               "arn:aws:dynamodb:eu-west-1:123456789012:table/orders/stream/2024-05-17T00:00:00.000",
		ShardID:                 "shardId-00000001-abc",
		SequenceNumber:          fmt.Sprintf("%d", 100000000000000000+seq),
		EventID:                 fmt.Sprintf("ev-%d", seq),
		EventName:               "MODIFY",
		ApproximateCreationTime: baseTime.Add(time.Duration(seq) * time.Second),
		CapturedAt:              baseTime.Add(time.Duration(seq)*time.Second + 1500*time.Millisecond),
		Keys:                    fmt.Sprintf(`{"pk":{"S":"k%d"}}`, seq%7),
		NewImage:                &img,
		OldImage:                ptr(`{"pk":{"S":"old"}}`),
		SizeBytes:               int64(100 + seq),
	}
}
