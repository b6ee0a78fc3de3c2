// Package storagetest is the shared behaviour suite of storage.Bucket, run against every
// backend (storage/dir over a temporary directory, storage/s3 over versitygw).
package storagetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ddbtape/ddbtape/storage"
)

// Run runs the suite. newBucket must return an empty bucket, a new one per call.
func Run(t *testing.T, newBucket func(t *testing.T) storage.Bucket) {
	tests := []struct {
		name string
		fn   func(t *testing.T, b storage.Bucket)
	}{
		{"CreateThenOpenReturnsTheContent", testCreateThenOpen},
		{"CreateOfAnExistingKeyFailsWithErrExistsAndKeepsTheOriginal", testCreateConflict},
		{"ConcurrentCreatesOfOneKeyLetExactlyOneWin", testConcurrentCreate},
		{"PutReplacesAnExistingObject", testPutOverwrite},
		{"SlowPutIsInvisibleUntilComplete", testSlowPutInvisible},
		{"FailedWriteLeavesNothingAndKeepsTheOldObject", testFailedWrite},
		{"CancelledContextStoresNothing", testCancelledContext},
		{"ListFiltersByPrefixAndSorts", testList},
		{"OpenOfAMissingKeyIsErrNotFound", testOpenMissing},
		{"DeleteRemovesAndIgnoresMissingKeys", testDelete},
		{"EmptyObjectRoundTrips", testEmptyObject},
		{"SealedWriteStoresAMatchingBodyAndRefusesAnotherLeavingNothing", testSealed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, newBucket(t)) })
	}
}

// segKey is a key in the layout of change segments, with '=' and '_' in it.
func segKey(table, day string, hour int, shard string, first, last int) string {
	return fmt.Sprintf("%s/changes/dt=%s/hour=%02d/%s_%040d_%040d.parquet", table, day, hour, shard, first, last)
}

func read(t *testing.T, b storage.Bucket, key string) string {
	t.Helper()
	rc, err := b.Open(t.Context(), key)
	if err != nil {
		t.Fatalf("Open(%q): %v", key, err)
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("read %q: %v", key, err)
	}
	return string(data)
}

func mustPut(t *testing.T, b storage.Bucket, key, content string) {
	t.Helper()
	if err := b.Put(t.Context(), key, strings.NewReader(content)); err != nil {
		t.Fatalf("Put(%q): %v", key, err)
	}
}

func keys(objs []storage.Object) []string {
	out := []string{}
	for _, o := range objs {
		out = append(out, o.Key)
	}
	return out
}

func testCreateThenOpen(t *testing.T, b storage.Bucket) {
	key := segKey("orders", "2026-11-21", 7, "shardId-00000001700000000000-abcdef01", 100, 200)
	content := strings.Repeat("parquet bytes ", 1000)
	if err := b.Create(t.Context(), key, strings.NewReader(content)); err != nil {
		t.Fatalf("Create: %v", err)
	}
	if got := read(t, b, key); got != content {
		t.Fatalf("Open returned %d bytes, want the %d written", len(got), len(content))
	}
	objs, err := b.List(t.Context(), "orders/")
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if len(objs) != 1 || objs[0].Key != key || objs[0].Size != int64(len(content)) {
		t.Fatalf("List = %+v, want one object %q of size %d", objs, key, len(content))
	}
	if objs[0].ModTime.IsZero() || time.Since(objs[0].ModTime) > time.Hour {
		t.Fatalf("ModTime = %v, want about now", objs[0].ModTime)
	}
}

func testCreateConflict(t *testing.T, b storage.Bucket) {
	key := "t/snapshots/20261121T000000Z/manifest.json"
	if err := b.Create(t.Context(), key, strings.NewReader("original")); err != nil {
		t.Fatalf("first Create: %v", err)
	}
	err := b.Create(t.Context(), key, strings.NewReader("intruder"))
	if !errors.Is(err, storage.ErrExists) {
		t.Fatalf("second Create error = %v, want ErrExists", err)
	}
	if got := read(t, b, key); got != "original" {
		t.Fatalf("after refused Create the object reads %q, want %q", got, "original")
	}
	objs, err := b.List(t.Context(), "t/")
	if err != nil || len(objs) != 1 {
		t.Fatalf("List after refused Create = %v, %v; want the one object", keys(objs), err)
	}
}

func testConcurrentCreate(t *testing.T, b storage.Bucket) {
	const writers = 8
	key := "t/changes/dt=2026-11-21/hour=00/race.parquet"
	var wg sync.WaitGroup
	errs := make([]error, writers)
	for i := range writers {
		wg.Go(func() {
			errs[i] = b.Create(t.Context(), key, strings.NewReader(fmt.Sprintf("writer %d", i)))
		})
	}
	wg.Wait()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil:
			if winner >= 0 {
				t.Fatalf("writers %d and %d both created %q", winner, i, key)
			}
			winner = i
		case !errors.Is(err, storage.ErrExists):
			t.Fatalf("writer %d: %v, want nil or ErrExists", i, err)
		}
	}
	if winner < 0 {
		t.Fatalf("no writer created %q", key)
	}
	if got, want := read(t, b, key), fmt.Sprintf("writer %d", winner); got != want {
		t.Fatalf("object reads %q, want the winner's %q", got, want)
	}
}

func testPutOverwrite(t *testing.T, b storage.Bucket) {
	key := "t/checkpoints/t.json"
	mustPut(t, b, key, "version 1, which is longer than the next")
	mustPut(t, b, key, "version 2")
	if got := read(t, b, key); got != "version 2" {
		t.Fatalf("after second Put the object reads %q, want %q", got, "version 2")
	}
	objs, err := b.List(t.Context(), "t/checkpoints/")
	if err != nil || len(objs) != 1 || objs[0].Size != int64(len("version 2")) {
		t.Fatalf("List = %+v, %v; want one object of the new size", objs, err)
	}
}

// blockingReader yields first, then blocks until released, then yields rest.
type blockingReader struct {
	first, rest []byte
	reached     chan struct{} // closed when first is consumed and the reader blocks
	release     chan struct{}
	once        sync.Once
}

func newBlockingReader(content string) *blockingReader {
	half := len(content) / 2
	return &blockingReader{
		first: []byte(content[:half]), rest: []byte(content[half:]),
		reached: make(chan struct{}), release: make(chan struct{}),
	}
}

func (r *blockingReader) Read(p []byte) (int, error) {
	if len(r.first) > 0 {
		n := copy(p, r.first)
		r.first = r.first[n:]
		return n, nil
	}
	r.once.Do(func() { close(r.reached) })
	<-r.release
	if len(r.rest) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.rest)
	r.rest = r.rest[n:]
	return n, nil
}

func testSlowPutInvisible(t *testing.T, b storage.Bucket) {
	ctx := t.Context()
	newKey, oldKey := "t/changes/dt=2026-11-21/hour=00/new.parquet", "t/checkpoints/t.json"
	mustPut(t, b, oldKey, "old")
	content := strings.Repeat("0123456789", 10_000)
	listed := []string{oldKey} // what List must show while each Put is stuck
	for _, key := range []string{newKey, oldKey} {
		r := newBlockingReader(content)
		done := make(chan error, 1)
		go func() { done <- b.Put(ctx, key, r) }()
		select {
		case <-r.reached:
		case err := <-done:
			t.Fatalf("Put(%q) returned %v before reading all of its body", key, err)
		}
		// The writer is stuck half way: readers see the old state, never a partial object.
		rc, err := b.Open(ctx, key)
		switch {
		case key == newKey && !errors.Is(err, storage.ErrNotFound):
			if err == nil {
				rc.Close()
			}
			t.Errorf("Open(%q) during Put = %v, want ErrNotFound", key, err)
		case key == oldKey:
			if err != nil {
				t.Errorf("Open(%q) during Put: %v", key, err)
			} else {
				data, _ := io.ReadAll(rc)
				rc.Close()
				if string(data) != "old" {
					t.Errorf("Open(%q) during Put read %d bytes, want the old content", key, len(data))
				}
			}
		}
		objs, err := b.List(ctx, "t/")
		if err != nil {
			t.Errorf("List during Put: %v", err)
		}
		if !reflect.DeepEqual(keys(objs), listed) {
			t.Errorf("List during Put = %q, want %q", keys(objs), listed)
		}
		close(r.release)
		if err := <-done; err != nil {
			t.Fatalf("Put(%q): %v", key, err)
		}
		if got := read(t, b, key); got != content {
			t.Fatalf("after Put %q reads %d bytes, want %d", key, len(got), len(content))
		}
		listed = []string{newKey, oldKey}
	}
}

// failingReader returns some bytes and then an error, like a writer that dies mid-stream.
type failingReader struct{ n int }

var errBody = errors.New("body failed")

func (r *failingReader) Read(p []byte) (int, error) {
	if r.n <= 0 {
		return 0, errBody
	}
	n := min(len(p), r.n)
	for i := range n {
		p[i] = 'x'
	}
	r.n -= n
	return n, nil
}

func testFailedWrite(t *testing.T, b storage.Bucket) {
	ctx := t.Context()
	if err := b.Create(ctx, "t/a.parquet", &failingReader{n: 5000}); err == nil {
		t.Fatal("Create with a failing body succeeded")
	}
	if _, err := b.Open(ctx, "t/a.parquet"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("Open after failed Create = %v, want ErrNotFound", err)
	}
	mustPut(t, b, "t/b.json", "old")
	if err := b.Put(ctx, "t/b.json", &failingReader{n: 5000}); err == nil {
		t.Fatal("Put with a failing body succeeded")
	}
	if got := read(t, b, "t/b.json"); got != "old" {
		t.Fatalf("after failed Put the object reads %q, want %q", got, "old")
	}
	objs, err := b.List(ctx, "")
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if want := []string{"t/b.json"}; !reflect.DeepEqual(keys(objs), want) {
		t.Fatalf("List after failed writes = %q, want %q (no temporary objects)", keys(objs), want)
	}
	// A failed Create must not block a later one.
	if err := b.Create(ctx, "t/a.parquet", strings.NewReader("good")); err != nil {
		t.Fatalf("Create after a failed Create: %v", err)
	}
}

func testCancelledContext(t *testing.T, b storage.Bucket) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := b.Put(ctx, "t/x", strings.NewReader("data")); err == nil {
		t.Fatal("Put with a cancelled context succeeded")
	}
	if err := b.Create(ctx, "t/y", strings.NewReader("data")); err == nil {
		t.Fatal("Create with a cancelled context succeeded")
	}
	objs, err := b.List(t.Context(), "")
	if err != nil || len(objs) != 0 {
		t.Fatalf("List after cancelled writes = %q, %v; want nothing", keys(objs), err)
	}
}

func testList(t *testing.T, b storage.Bucket) {
	shard := "shardId-00000001700000000000-0a1b2c3d"
	all := []string{
		segKey("t", "2026-11-21", 1, shard, 1, 9),
		segKey("t", "2026-11-21", 10, shard, 10, 19),
		segKey("t", "2026-11-21", 1, shard, 20, 29),
		segKey("t", "2026-11-22", 0, shard, 30, 39),
		"t/snapshots/20261121T000000Z/manifest.json",
		"t/snapshots/20261121T000000Z/part-00000.parquet",
		"t/checkpoints/t.json",
		"t-b/checkpoints/t-b.json",
		"t.json",
		"u/x",
	}
	for _, k := range all {
		mustPut(t, b, k, "x")
	}
	tests := []struct {
		prefix string
		want   []string
	}{
		{"t/changes/dt=2026-11-21/", []string{all[0], all[2], all[1]}},
		{"t/changes/dt=2026-11-21/hour=1", []string{all[1]}},
		{"t/changes/dt=2026-11-21/hour=01/", []string{all[0], all[2]}},
		{"t/changes/dt=2026-11-2", []string{all[0], all[2], all[1], all[3]}},
		{"t/changes/", []string{all[0], all[2], all[1], all[3]}},
		{"t/snapshots/20261121T000000Z/", []string{all[4], all[5]}},
		{"t/checkpoints/t.json", []string{all[6]}},
		{"t/", []string{all[0], all[2], all[1], all[3], all[6], all[4], all[5]}},
		// '-' and '.' sort before '/': "t-b/..." < "t.json" < "t/...".
		{"t", []string{all[7], all[8], all[0], all[2], all[1], all[3], all[6], all[4], all[5]}},
		{"", []string{all[7], all[8], all[0], all[2], all[1], all[3], all[6], all[4], all[5], all[9]}},
		{"t/changes/dt=2026-11-23/", []string{}},
		{"nothing/here/", []string{}},
		{"t/checkpoints/t.json/", []string{}},
		{"u/x/y", []string{}},
	}
	for _, tt := range tests {
		objs, err := b.List(t.Context(), tt.prefix)
		if err != nil {
			t.Errorf("List(%q): %v", tt.prefix, err)
			continue
		}
		if got := keys(objs); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("List(%q) =\n  %q\nwant\n  %q", tt.prefix, got, tt.want)
		}
	}
}

func testOpenMissing(t *testing.T, b storage.Bucket) {
	mustPut(t, b, "t/a", "x")
	for _, key := range []string{"t/missing", "missing/deep/key.json", "t/a/b", "t"} {
		rc, err := b.Open(t.Context(), key)
		if err == nil {
			rc.Close()
		}
		if !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("Open(%q) = %v, want ErrNotFound", key, err)
		}
	}
}

func testDelete(t *testing.T, b storage.Bucket) {
	ctx := t.Context()
	key := segKey("t", "2026-11-21", 3, "shardId-1", 1, 2)
	mustPut(t, b, key, "x")
	mustPut(t, b, "t/keep", "y")
	if err := b.Delete(ctx, key); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, err := b.Open(ctx, key); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("Open after Delete = %v, want ErrNotFound", err)
	}
	for _, k := range []string{key, "never/was", "t/keep/not"} {
		if err := b.Delete(ctx, k); err != nil {
			t.Errorf("Delete(%q) of a missing object: %v, want nil", k, err)
		}
	}
	if err := b.Create(ctx, key, bytes.NewReader([]byte("again"))); err != nil {
		t.Fatalf("Create after Delete: %v", err)
	}
	objs, err := b.List(ctx, "")
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if want := []string{key, "t/keep"}; !reflect.DeepEqual(keys(objs), want) {
		t.Fatalf("List = %q, want %q", keys(objs), want)
	}
}

func testEmptyObject(t *testing.T, b storage.Bucket) {
	if err := b.Create(t.Context(), "t/empty", strings.NewReader("")); err != nil {
		t.Fatalf("Create empty: %v", err)
	}
	if got := read(t, b, "t/empty"); got != "" {
		t.Fatalf("empty object reads %q", got)
	}
	if err := b.Create(t.Context(), "t/empty", strings.NewReader("")); !errors.Is(err, storage.ErrExists) {
		t.Fatalf("second Create of the empty object = %v, want ErrExists", err)
	}
}

func testSealed(t *testing.T, b storage.Bucket) {
	ctx := t.Context()
	content := strings.Repeat("segment bytes ", 500)
	sum, _, err := storage.HashReader(strings.NewReader(content))
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Create(ctx, "t/good", storage.Sealed(strings.NewReader(content), sum)); err != nil {
		t.Fatalf("Create with the right seal: %v", err)
	}
	if got := read(t, b, "t/good"); got != content {
		t.Fatalf("sealed object reads %d bytes, want %d", len(got), len(content))
	}
	damaged := strings.Replace(content, "bytes", "bytez", 1)
	for name, write := range map[string]func(string, io.Reader) error{
		"Create": func(k string, r io.Reader) error { return b.Create(ctx, k, r) },
		"Put":    func(k string, r io.Reader) error { return b.Put(ctx, k, r) },
	} {
		err := write("t/bad-"+name, storage.Sealed(strings.NewReader(damaged), sum))
		if !errors.Is(err, storage.ErrChecksum) {
			t.Errorf("%s of a body that differs from its seal = %v, want ErrChecksum", name, err)
		}
		if _, err := b.Open(ctx, "t/bad-"+name); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("after a refused sealed %s, Open = %v, want ErrNotFound", name, err)
		}
	}
}
