package retention

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/ddbtape/ddbtape/storage"
	"github.com/ddbtape/ddbtape/writer"
)

// Rejected is a snapshot a run would have adopted as the base of the restorable window
// but found damaged, and so decided without.
type Rejected struct {
	Snapshot string
	// Problem is what is wrong, first part first: missing, or a size or SHA-256 that
	// differs from the manifest.
	Problem string
}

// Verified remembers the snapshots whose parts a process has read and found to match
// their manifest, so retention reads a base's parts once per process instead of on every
// run (see the package doc). Entries are keyed by snapshot id and a digest of the
// manifest's part list, so a manifest replaced under the same id is read again. The zero
// value is ready; it is safe for concurrent use.
type Verified struct {
	mu   sync.Mutex
	seen map[string]bool
}

func (v *Verified) has(key string) bool {
	if v == nil {
		return false
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.seen[key]
}

func (v *Verified) add(key string) {
	if v == nil {
		return
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.seen == nil {
		v.seen = map[string]bool{}
	}
	v.seen[key] = true
}

// verifiedKey is the snapshot id and the digest of its manifest's parts.
func verifiedKey(id string, m *writer.Manifest) string {
	data, _ := json.Marshal(m.Parts) // a slice of plain structs always encodes
	sum := sha256.Sum256(data)
	return id + "/" + hex.EncodeToString(sum[:])
}

// checkBase confirms that snapshot id, which a run is about to adopt as the base of the
// window, has every part its manifest m lists: present with its size (from objs, the
// listing of its directory, on every run) and its SHA-256 (read, unless v remembers the
// snapshot). It returns what is wrong, "" when the snapshot is whole, and an error only
// when a part could not be read for another reason: then the run deletes nothing.
func checkBase(ctx context.Context, b storage.Bucket, table, id string, m *writer.Manifest, objs []storage.Object, v *Verified) (string, error) {
	if m == nil {
		return "it has no manifest", nil
	}
	dir := writer.SnapshotDir(table, id)
	sizes := map[string]int64{}
	for _, o := range objs {
		sizes[strings.TrimPrefix(o.Key, dir)] = o.Size
	}
	for _, mp := range m.Parts {
		size, ok := sizes[mp.Name]
		switch {
		case !ok:
			return fmt.Sprintf("part %s is missing", storage.URL(b, dir+mp.Name)), nil
		case size != mp.Bytes:
			return fmt.Sprintf("part %s is %d bytes, manifest says %d", storage.URL(b, dir+mp.Name), size, mp.Bytes), nil
		}
	}
	key := verifiedKey(id, m)
	if v.has(key) {
		return "", nil
	}
	problems := make([]string, len(m.Parts))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(deleteWorkers)
	for i, mp := range m.Parts {
		g.Go(func() error {
			url := storage.URL(b, dir+mp.Name)
			rc, err := b.Open(gctx, dir+mp.Name)
			if errors.Is(err, storage.ErrNotFound) {
				problems[i] = fmt.Sprintf("part %s is missing", url)
				return nil
			}
			if err != nil {
				return fmt.Errorf("check part %s of base snapshot %s: %w", url, id, err)
			}
			defer rc.Close()
			if err := writer.VerifyPart(rc, mp); errors.Is(err, writer.ErrChecksum) {
				problems[i] = fmt.Sprintf("%s: %v", url, err)
			} else if err != nil {
				return fmt.Errorf("check part %s of base snapshot %s: %w", url, id, err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return "", err
	}
	for _, p := range problems {
		if p != "" {
			return p, nil
		}
	}
	v.add(key)
	return "", nil
}
