package replay

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"

	"github.com/ddbtape/ddbtape/catalog"
)

// The merge is bounded in memory by partitioning: every record (snapshot item, change, live
// item) is appended to one of n spill files chosen by a hash of its key, so all versions of
// a key meet in one file, and the files are merged one at a time. A file that grew larger
// than maxPartitionBytes (the size estimate was off) is split again with another hash
// before it is loaded.
const (
	maxPartitionBytes = 128 << 20
	splitFanout       = 16
	maxSplitLevel     = 4
	spillBufSize      = 64 << 10
)

// kind says which side of the merge a spilled record is on.
type kind byte

const (
	kindWant kind = 1 // a snapshot item or a change: a candidate for the state at T
	kindHave kind = 2 // the live table's current item
)

const (
	flagChange  = 1
	flagDeleted = 2
)

// record is one spilled version of a key.
type record struct {
	kind kind
	key  string
	v    version // kindWant
	item string  // kindHave
}

// Entry is one key's outcome of a merge.
type Entry struct {
	Key string // key attributes, DynamoDB JSON
	// Want is the item at T; HasWant is false when the item did not exist then.
	Want    string
	HasWant bool
	// Have is the live table's item (only when the live side was read); HasHave is false
	// when the table does not hold it.
	Have    string
	HasHave bool
}

type spill struct {
	dir   string
	level int
	// stride is the Partition's Count whose keys alone are spilled (see partition).
	stride uint64
	// maxBytes is the largest partition loaded whole; a larger one is split again.
	maxBytes int64
	splits   int // partitions split again, for tests
	mu       sync.Mutex
	files    []*os.File
	bufs     []*bufio.Writer
	sizes    []int64
	enc      []byte
}

// newSpill creates n empty partition files in a new directory under parent.
func newSpill(parent string, n, level int) (*spill, error) {
	dir, err := os.MkdirTemp(parent, fmt.Sprintf("ddbtape-restore-l%d-", level))
	if err != nil {
		return nil, fmt.Errorf("create spill directory: %w", err)
	}
	s := &spill{dir: dir, level: level, maxBytes: maxPartitionBytes, files: make([]*os.File, n), bufs: make([]*bufio.Writer, n), sizes: make([]int64, n)}
	for i := range n {
		f, err := os.Create(filepath.Join(dir, fmt.Sprintf("p%05d", i)))
		if err != nil {
			s.remove()
			return nil, fmt.Errorf("create spill file: %w", err)
		}
		s.files[i] = f
		s.bufs[i] = bufio.NewWriterSize(f, spillBufSize)
	}
	return s, nil
}

// remove deletes every spill file; it is safe to call more than once.
func (s *spill) remove() {
	for _, f := range s.files {
		if f != nil {
			_ = f.Close()
		}
	}
	_ = os.RemoveAll(s.dir)
}

// partition is the spill file of key among n at a level (keyHash). At the first level the
// hash is divided by stride first: a restore of one Partition of stride keeps only keys
// whose hash is Index modulo stride, and without the division they would crowd into the
// files whose number shares a factor with stride.
func partition(key string, level, n int, stride uint64) int {
	h := keyHash(key, level)
	if level == 0 && stride > 1 {
		h /= stride
	}
	return int(h % uint64(n))
}

func (s *spill) add(r *record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.enc = encodeRecord(s.enc[:0], r)
	return s.write(r.key, s.enc)
}

// write appends one encoded record to the partition of key; s.mu is held.
func (s *spill) write(key string, enc []byte) error {
	p := partition(key, s.level, len(s.files), s.stride)
	if _, err := s.bufs[p].Write(enc); err != nil {
		return fmt.Errorf("write spill file: %w", err)
	}
	s.sizes[p] += int64(len(enc))
	return nil
}

// each merges the partitions one after another and calls fn for every key in key order
// within a partition (partitions come in a fixed order, so the whole output is
// deterministic). The spill files are deleted as they are consumed.
func (s *spill) each(fn func(Entry) error) error {
	defer s.remove()
	for i := range s.files {
		if err := s.bufs[i].Flush(); err != nil {
			return fmt.Errorf("write spill file: %w", err)
		}
	}
	for i, f := range s.files {
		if err := s.mergeFile(i, f, fn); err != nil {
			return err
		}
		_ = f.Close()
		_ = os.Remove(f.Name())
		s.files[i] = nil
	}
	return nil
}

func (s *spill) mergeFile(i int, f *os.File, fn func(Entry) error) error {
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("rewind spill file: %w", err)
	}
	r := bufio.NewReaderSize(f, spillBufSize)
	if s.sizes[i] > s.maxBytes && s.level < maxSplitLevel {
		sub, err := newSpill(s.dir, splitFanout, s.level+1)
		if err != nil {
			return err
		}
		sub.maxBytes = s.maxBytes
		s.splits++
		defer sub.remove()
		err = readRecords(r, func(rr *rawRecord) error { return sub.write(string(rr.key), rr.enc) })
		if err != nil {
			return err
		}
		return sub.each(fn)
	}
	// Records are decoded into one reused buffer; a key's state copies only what wins, so
	// the versions a later one supersedes cost no allocation.
	type state struct {
		hasWant, change, deleted bool
		ord, item                []byte
		have                     []byte
		hasHave                  bool
	}
	// Sized from the file (records are rarely under 128 bytes) so the map is not rebuilt
	// again and again as it grows.
	m := make(map[string]*state, min(s.sizes[i]/128, 1<<22))
	err := readRecords(r, func(rr *rawRecord) error {
		st := m[string(rr.key)]
		if st == nil {
			st = &state{}
			m[string(rr.key)] = st
		}
		switch rr.kind {
		case kindWant:
			change := rr.flags&flagChange != 0
			// A change supersedes the snapshot; of two changes the later order wins, and
			// an equal order is the same record stored twice, so the first one stays.
			if !st.hasWant || (change && (!st.change || bytes.Compare(rr.ord, st.ord) > 0)) {
				st.hasWant, st.change, st.deleted = true, change, rr.flags&flagDeleted != 0
				st.ord = append(st.ord[:0], rr.ord...)
				st.item = append(st.item[:0], rr.item...)
			}
		case kindHave:
			st.have, st.hasHave = append(st.have[:0], rr.item...), true
		}
		return nil
	})
	if err != nil {
		return err
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		st := m[k]
		delete(m, k) // lets the collector take what fn has finished with
		e := Entry{Key: k, HasHave: st.hasHave}
		if st.hasHave {
			e.Have = string(st.have)
		}
		if st.hasWant && !st.deleted {
			e.Want, e.HasWant = string(st.item), true
		}
		if !e.HasWant && !e.HasHave {
			continue // deleted before T and absent from the table: nothing to say
		}
		if err := fn(e); err != nil {
			return err
		}
	}
	return nil
}

// Record layout: kind, flags, then the order key, the merge key and the item, each as a
// uvarint length followed by the bytes. The order key encodes Order so that comparing the
// bytes compares the Orders: stream label, NUL, depth (4 bytes big-endian), sequence key,
// NUL, shard id. Labels, sequence keys and shard ids never hold a NUL, which sorts first.
func encodeRecord(b []byte, r *record) []byte {
	var flags byte
	if r.v.change {
		flags |= flagChange
	}
	if r.v.deleted {
		flags |= flagDeleted
	}
	item := r.v.item
	if r.kind == kindHave {
		item = r.item
	}
	b = append(b, byte(r.kind), flags)
	if r.v.change {
		o := r.v.order
		b = binary.AppendUvarint(b, uint64(len(o.Stream)+1+4+len(o.Seq)+1+len(o.Shard)))
		b = appendOrderKey(b, o)
	} else {
		b = append(b, 0)
	}
	for _, s := range [...]string{r.key, item} {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	return b
}

func appendOrderKey(b []byte, o catalog.Order) []byte {
	b = append(b, o.Stream...)
	b = append(b, 0)
	b = binary.BigEndian.AppendUint32(b, uint32(o.Depth))
	b = append(b, o.Seq...)
	b = append(b, 0)
	return append(b, o.Shard...)
}

var errCorruptSpill = errors.New("spill file is corrupt (was the temporary directory modified during the restore?)")

// rawRecord is a record as read: its slices alias a buffer reused for the next record.
type rawRecord struct {
	kind           kind
	flags          byte
	ord, key, item []byte
	enc            []byte // the whole encoded record
}

func readRecords(r *bufio.Reader, fn func(*rawRecord) error) error {
	var rec rawRecord
	var buf []byte
	for {
		k, err := r.ReadByte()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read spill file: %w", err)
		}
		flags, err := r.ReadByte()
		if err != nil {
			return errCorruptSpill
		}
		buf = append(buf[:0], k, flags)
		var bounds [3][2]int
		for i := range bounds {
			n, err := binary.ReadUvarint(r)
			if err != nil {
				return errCorruptSpill
			}
			buf = binary.AppendUvarint(buf, n)
			start := len(buf)
			buf = slices.Grow(buf, int(n))[:start+int(n)]
			if _, err := io.ReadFull(r, buf[start:]); err != nil {
				return errCorruptSpill
			}
			bounds[i] = [2]int{start, len(buf)}
		}
		rec = rawRecord{kind: kind(k), flags: flags, enc: buf,
			ord: buf[bounds[0][0]:bounds[0][1]], key: buf[bounds[1][0]:bounds[1][1]], item: buf[bounds[2][0]:bounds[2][1]]}
		if err := fn(&rec); err != nil {
			return err
		}
	}
}
