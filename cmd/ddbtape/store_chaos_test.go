package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/ddbtape/ddbtape/checkpoint"
	"github.com/ddbtape/ddbtape/shards"
	"github.com/ddbtape/ddbtape/writer"
)

// waitUntil polls cond until it holds or budget runs out; then it fails with what cond
// last said.
func waitUntil(t *testing.T, budget time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(budget)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s (%s)", what, budget, state)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// tempObject is the name the dir backend gives a file while it is written: never an object.
var tempObject = regexp.MustCompile(`^\..*\.tmp-[0-9]+$`)

// mutableObject tells the objects that are replaced by design: checkpoint documents, a
// running snapshot's state, retention's reader locks and the capture lock. Every other
// object (segments, parts, manifests, the ledger's objects) is written once.
func mutableObject(key string) bool {
	if strings.Contains(key, "/ledger/") {
		return false
	}
	return strings.Contains(key, "/checkpoints/") || strings.Contains(key, "/state/") || strings.Contains(key, "/locks/") ||
		strings.HasSuffix(key, "/capture.lock")
}

// storeAudit remembers the content hash of every immutable object it has seen in a
// destination, to prove that no object is ever overwritten with other content.
type storeAudit struct {
	root   string
	hashes map[string]string
}

func newStoreAudit(root string) *storeAudit {
	return &storeAudit{root: root, hashes: map[string]string{}}
}

// check walks the destination and fails if an object seen before has changed content.
// It returns how many immutable objects exist now.
func (a *storeAudit) check(t *testing.T, when string) int {
	t.Helper()
	n := 0
	err := filepath.WalkDir(a.root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // removed while walking (a snapshot's state, a temporary file)
			}
			return err
		}
		if d.IsDir() || tempObject.MatchString(d.Name()) {
			return nil
		}
		rel, _ := filepath.Rel(a.root, path)
		key := filepath.ToSlash(rel)
		if mutableObject(key) {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		sum := sha256.Sum256(data)
		h := hex.EncodeToString(sum[:])
		if prev, ok := a.hashes[key]; ok && prev != h {
			t.Errorf("%s: object %s was overwritten with other content", when, key)
		}
		a.hashes[key] = h
		n++
		return nil
	})
	if err != nil {
		t.Fatalf("%s: walk %s: %v", when, a.root, err)
	}
	return n
}

// storeSample is what a destination held at one moment: each shard's checkpointed
// sequence number, and the segments listed right after the checkpoint was read. Read in
// that order, a checkpoint that passed a segment not yet stored would show.
type storeSample struct {
	when     string
	seq      map[string]string // shard -> checkpointed sequence number
	segments []string          // segment keys
}

// readCheckpoint reads a file checkpoint document without the checkpoint store (which
// would probe the directory for writing, and the disk may be full or read-only). A missing
// document is an empty checkpoint.
func readCheckpoint(t *testing.T, path string) map[string]string {
	t.Helper()
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]string{}
	}
	if err != nil {
		t.Fatalf("read checkpoint: %v", err)
	}
	var doc struct {
		Shards map[string]checkpoint.Position `json:"shards"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatalf("checkpoint %s: %v\n%s", path, err, data)
	}
	out := map[string]string{}
	for id, p := range doc.Shards {
		out[id] = p.SequenceNumber
	}
	return out
}

// sampleStore reads the checkpoint document at ckptPath, then lists the segments of table
// under dest.
func sampleStore(t *testing.T, when, ckptPath, dest, table string) storeSample {
	t.Helper()
	seq := readCheckpoint(t, ckptPath)
	return storeSample{when: when, seq: seq, segments: listSegments(t, dest, table)}
}

// listSegments returns the keys of table's segments under dest.
func listSegments(t *testing.T, dest, table string) []string {
	t.Helper()
	var keys []string
	root := filepath.Join(dest, filepath.FromSlash(writer.ChangesPrefix(table)))
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if d.IsDir() || tempObject.MatchString(d.Name()) {
			return nil
		}
		rel, _ := filepath.Rel(dest, path)
		if _, ok := writer.ParseSegmentKey(filepath.ToSlash(rel)); ok {
			keys = append(keys, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatalf("list segments: %v", err)
	}
	return keys
}

// segmentsByKey reads every segment of table under dest: key -> its records.
func segmentsByKey(t *testing.T, dest, table string) map[string][]streamRecord {
	t.Helper()
	out := map[string][]streamRecord{}
	for _, key := range listSegments(t, dest, table) {
		data, err := os.ReadFile(filepath.Join(dest, filepath.FromSlash(key)))
		if err != nil {
			t.Fatal(err)
		}
		changes, err := writer.ReadChanges(data)
		if err != nil {
			t.Fatalf("read %s: %v", key, err)
		}
		for _, c := range changes {
			r := streamRecord{shard: c.ShardID, seq: c.SequenceNumber, eventID: c.EventID, eventName: c.EventName, keys: c.Keys}
			if c.NewImage != nil {
				r.newImage = *c.NewImage
			}
			if c.OldImage != nil {
				r.oldImage = *c.OldImage
			}
			out[key] = append(out[key], r)
		}
	}
	return out
}

// checkCheckpointsNeverPassedStorage checks the pipeline's rule on every sample: each
// stream record at or before a shard's checkpoint was in a segment already stored when the
// checkpoint was read; and no checkpoint ever moved backwards.
func checkCheckpointsNeverPassedStorage(t *testing.T, samples []storeSample, stream []streamRecord, byKey map[string][]streamRecord) {
	t.Helper()
	byShard := map[string][]streamRecord{}
	for _, r := range stream {
		byShard[r.shard] = append(byShard[r.shard], r)
	}
	last := map[string]string{}
	checked := 0
	for _, s := range samples {
		stored := map[string]bool{}
		for _, key := range s.segments {
			recs, ok := byKey[key]
			if !ok {
				t.Fatalf("%s: segment %s was listed then but is gone now", s.when, key)
			}
			for _, r := range recs {
				stored[r.id()] = true
			}
		}
		ids := make([]string, 0, len(s.seq))
		for id := range s.seq {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		for _, shard := range ids {
			seq := shards.SequenceNumber(s.seq[shard]).Key()
			if prev := last[shard]; prev > seq {
				t.Errorf("%s: checkpoint of shard %s moved back from %s to %s", s.when, shard, prev, seq)
			}
			last[shard] = seq
			if s.seq[shard] == "" {
				continue
			}
			for _, r := range byShard[shard] {
				if shards.SequenceNumber(r.seq).Key() <= seq && !stored[r.id()] {
					t.Fatalf("%s: the checkpoint of shard %s was at %s while record %s was not stored in any segment", s.when, shard, s.seq[shard], r.seq)
				}
			}
			checked++
		}
	}
	if checked == 0 {
		t.Fatalf("no sample held a checkpoint: the rule was never checked")
	}
}
