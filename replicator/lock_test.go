package replicator

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ddbtape/ddbtape/capturelock"
	"github.com/ddbtape/ddbtape/internal/fakestreams"
	"github.com/ddbtape/ddbtape/storage"
)

func putLock(t *testing.T, b storage.Bucket, d capturelock.Doc) {
	t.Helper()
	data, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Put(context.Background(), capturelock.Key("orders"), bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
}

// lockHeld tells whether the table's capture lock is there and not released (a clean
// stop marks it released rather than deleting it).
func lockHeld(t *testing.T, b storage.Bucket) bool {
	t.Helper()
	rc, err := b.Open(context.Background(), capturelock.Key("orders"))
	if errors.Is(err, storage.ErrNotFound) {
		return false
	}
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	var d capturelock.Doc
	if err := json.NewDecoder(rc).Decode(&d); err != nil {
		t.Fatal(err)
	}
	return !d.Released
}

func TestCapture_ASecondCaptureOfTheSameTableAndDestinationIsRefused(t *testing.T) {
	id := fakestreams.ShardID(1)
	f := newFixture(t, id)
	want, err := f.fake.AppendRecords(id, item("a", 1), item("b", 2))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	first := f.capture(t, f.bucket, func(c *Config) { c.UntilIdle = 0; c.Roll.MaxRecords = 1 })
	errc := make(chan error, 1)
	go func() { errc <- first.Run(ctx) }()
	waitFor(t, "the first capture to read", func() bool { return first.Stats().Records >= 2 })

	// The second would read every shard too (with UntilIdle it would end by itself, nil).
	second := f.capture(t, f.bucket, nil)
	sctx, scancel := context.WithTimeout(ctx, 30*time.Second)
	defer scancel()
	err = second.Run(sctx)
	if !errors.Is(err, capturelock.ErrLocked) || sctx.Err() != nil {
		t.Fatalf("second capture = %v, want it refused at once with ErrLocked", err)
	}
	if msg := err.Error(); strings.Contains(msg, "\n") || !strings.Contains(msg, "another capture of table orders") || !strings.Contains(msg, "stop it first") {
		t.Errorf("refusal is not one line naming the holder and what to do: %q", msg)
	}
	if st := second.Stats(); st.Records != 0 || st.Segments != 0 {
		t.Errorf("the refused capture read %d records and stored %d segments", st.Records, st.Segments)
	}

	// The first runs on.
	more, err := f.fake.AppendRecords(id, item("c", 3))
	if err != nil {
		t.Fatal(err)
	}
	want = append(want, more...)
	waitFor(t, "the first capture to store and checkpoint a record written after the refusal", func() bool {
		st, err := f.store.Load(ctx, f.table)
		return err == nil && st.Shards[id].SequenceNumber == more[0]
	})
	cancel()
	if err := <-errc; err != nil {
		t.Fatalf("first capture = %v, want a normal stop", err)
	}
	if lockHeld(t, f.bucket) {
		t.Error("the lock outlived the capture that held it")
	}

	// Once it stopped, a new capture starts and finds everything stored.
	more, err = f.fake.AppendRecords(id, item("d", 4))
	if err != nil {
		t.Fatal(err)
	}
	want = append(want, more...)
	if err := f.run(t, nil); err != nil {
		t.Fatalf("capture after the first stopped = %v", err)
	}
	if got := seqs(f.stored(t)[id]); !equalStrings(got, want) {
		t.Fatalf("stored %v, want %v", got, want)
	}
}

func TestCapture_TakesOverTheLockOfAKilledCaptureAfterItExpires(t *testing.T) {
	id := fakestreams.ShardID(1)
	f := newFixture(t, id)
	want, err := f.fake.AppendRecords(id, item("a", 1))
	if err != nil {
		t.Fatal(err)
	}
	// kill -9 on another host: its lock stays, last renewed 10 s ago.
	now := time.Now()
	killed := capturelock.Doc{Owner: "killed", Host: "other-host", PID: 4242, Since: now.Add(-time.Hour),
		Renewed: now.Add(-10 * time.Second), Expires: now.Add(capturelock.DefaultTTL - 10*time.Second)}
	putLock(t, f.bucket, killed)

	clock := func() time.Time { return now }
	err = f.run(t, func(c *Config) { c.Lock.Now = clock })
	var le *capturelock.LockedError
	if !errors.As(err, &le) || !strings.Contains(err.Error(), "other-host pid 4242") || !strings.Contains(err.Error(), "(in 50s)") {
		t.Fatalf("capture while the killed one's lock is live = %v, want refused naming it and the 50 s to wait", err)
	}

	// Once its expiry and the skew have passed, the next capture takes it over.
	later := le.FreeAt.Add(time.Second)
	if err := f.run(t, func(c *Config) { c.Lock.Now = func() time.Time { return later } }); err != nil {
		t.Fatalf("capture after the stale lock expired = %v", err)
	}
	if got := seqs(f.stored(t)[id]); !equalStrings(got, want) {
		t.Fatalf("stored %v, want %v", got, want)
	}
	if lockHeld(t, f.bucket) {
		t.Error("the lock taken over was not released at the end")
	}
}

func TestCapture_StopsWithAClearErrorWhenAnotherCaptureTakesItsLock(t *testing.T) {
	id := fakestreams.ShardID(1)
	f := newFixture(t, id)
	want, err := f.fake.AppendRecords(id, item("a", 1), item("b", 2))
	if err != nil {
		t.Fatal(err)
	}
	c := f.capture(t, f.bucket, func(c *Config) {
		c.UntilIdle = 0
		c.Roll.MaxRecords = 1
		c.Lock.TTL = 150 * time.Millisecond
	})
	errc := make(chan error, 1)
	go func() { errc <- c.Run(context.Background()) }()
	waitFor(t, "the capture to store what it read", func() bool { return c.Stats().Segments >= 2 })
	putLock(t, f.bucket, capturelock.Doc{Owner: "intruder", Host: "other-host", PID: 77, Since: time.Now(), Expires: time.Now().Add(time.Hour)})
	err = <-errc
	var lost *capturelock.LostError
	if !errors.As(err, &lost) || !strings.Contains(err.Error(), "another capture (other-host pid 77) took over") {
		t.Fatalf("capture = %v, want it stopped by the lost lock", err)
	}
	if got := seqs(f.stored(t)[id]); !equalStrings(got, want) {
		t.Fatalf("stored %v, want %v", got, want)
	}
}
