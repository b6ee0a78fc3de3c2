// Package dir is the local-directory storage backend: each object is a file under a root
// directory, its key the slash-separated path relative to the root.
//
// Objects appear atomically and durably: content goes to a hidden temporary file in the
// target directory (".NAME.tmp-RANDOM", which List never returns), is fsynced, then linked
// (Create) or renamed (Put) to its name, and the directory is fsynced. A reader therefore
// sees a whole file or none, and a crash leaves at worst a stray temporary file.
//
// A sealed body (storage.Sealed) is checked against its SHA-256 before it is published: a
// body that differs is refused and nothing appears. A directory cannot hold objects under
// a retention (it is no storage.Locker): a destination that must be immutable is an S3
// bucket with Object Lock.
//
// Create relies on hard links (link(2) fails when the name exists), so the directory must be
// on a file system that supports them; every local Linux file system does.
package dir

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"syscall"

	"github.com/ddbtape/ddbtape/storage"
)

var _ storage.Bucket = (*Bucket)(nil)

// Bucket stores objects as files under a root directory.
type Bucket struct {
	root string
}

// New opens root as a bucket and checks that a file can be created and removed in it (or,
// while it does not exist yet, in its nearest existing parent), so a read-only or
// foreign-owned destination fails at start, not at the first segment. A missing root is
// created by the first write.
func New(root string) (*Bucket, error) {
	if abs, err := filepath.Abs(root); err == nil {
		root = abs
	}
	// The directory is created by the first write, not here: a command that fails before
	// it stores anything (a wrong endpoint, say) leaves nothing behind. Writability is
	// probed in the nearest directory that exists.
	probeIn := root
	for {
		fi, err := os.Stat(probeIn)
		if err == nil {
			if !fi.IsDir() {
				return nil, fmt.Errorf("destination %s is not writable: %s is not a directory", root, probeIn)
			}
			break
		}
		parent := filepath.Dir(probeIn)
		if !isMissing(err) || parent == probeIn {
			return nil, fmt.Errorf("destination %s is not writable: %w", root, err)
		}
		probeIn = parent
	}
	probe, err := os.CreateTemp(probeIn, ".probe.tmp-*")
	if err != nil {
		return nil, fmt.Errorf("destination %s is not writable: %w", root, err)
	}
	name := probe.Name()
	cerr := probe.Close()
	rerr := os.Remove(name)
	if err := errors.Join(cerr, rerr); err != nil {
		return nil, fmt.Errorf("destination %s is not writable: %w", root, err)
	}
	return &Bucket{root: root}, nil
}

// Root is the absolute directory the bucket stores its files in.
func (b *Bucket) Root() string { return b.root }

// URL is the file path of key, for messages.
func (b *Bucket) URL(key string) string { return filepath.Join(b.root, filepath.FromSlash(key)) }

// tempName matches the temporary files of Create, Put and New; List skips them and keys may
// not look like them, so an object can never be hidden.
var tempName = regexp.MustCompile(`^\..*\.tmp-[0-9]+$`)

// checkKey refuses keys that would escape the root or not name a plain file.
func checkKey(key string) error {
	if key == "" {
		return errors.New("empty key")
	}
	if strings.HasPrefix(key, "/") {
		return fmt.Errorf("key %q is absolute: keys are relative to the destination", key)
	}
	if strings.ContainsRune(key, 0) {
		return fmt.Errorf("key %q contains a NUL byte", key)
	}
	for seg := range strings.SplitSeq(key, "/") {
		switch seg {
		case "":
			return fmt.Errorf("key %q has an empty path segment", key)
		case ".", "..":
			return fmt.Errorf("key %q contains a %q segment", key, seg)
		}
	}
	if tempName.MatchString(path.Base(key)) {
		return fmt.Errorf("key %q has the form of a temporary file", key)
	}
	return nil
}

// Create stores r under key only if no file has that name; otherwise it returns an error
// wrapping storage.ErrExists and leaves the existing file untouched.
func (b *Bucket) Create(ctx context.Context, key string, r io.Reader) error {
	// Fail fast without copying the body when the name is taken; the link below is what
	// guarantees it against a concurrent writer.
	if err := checkKey(key); err == nil {
		if _, err := os.Lstat(b.URL(key)); err == nil {
			return fmt.Errorf("create %s: %w", b.URL(key), storage.ErrExists)
		}
	}
	if err := b.write(ctx, key, r, storage.IfAbsent); err != nil {
		return fmt.Errorf("create %s: %w", b.URL(key), err)
	}
	return nil
}

// Put stores r under key, replacing any existing file atomically.
func (b *Bucket) Put(ctx context.Context, key string, r io.Reader) error {
	if err := b.write(ctx, key, r, storage.Replace); err != nil {
		return fmt.Errorf("put %s: %w", b.URL(key), err)
	}
	return nil
}

// write copies r to a temporary file beside the target, fsyncs it, publishes it with
// a rename (storage.Replace) or a hard link (storage.IfAbsent: it fails when the name
// exists), and fsyncs the directory so the new name survives a crash.
func (b *Bucket) write(ctx context.Context, key string, r io.Reader, mode storage.WriteMode) error {
	if err := checkKey(key); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	final := b.URL(key)
	dir := filepath.Dir(final)
	if err := b.mkdirAll(dir); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(final)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	// The temporary name goes unless a rename consumed it: after a link it is a second
	// name of the object. After a rename it is not removed, as another writer may by then
	// have drawn the same random name.
	renamed := false
	defer func() {
		if !renamed {
			os.Remove(tmp)
		}
	}()
	var sealed *storage.Verifier
	if sum, ok := storage.SealOf(r); ok {
		sealed = storage.NewVerifier(r, sum)
		r = sealed
	}
	if _, err := io.Copy(f, ctxReader{ctx: ctx, r: r}); err != nil {
		f.Close()
		return err
	}
	if sealed != nil {
		if err := sealed.Check(); err != nil {
			f.Close()
			return err
		}
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	replace := mode == storage.Replace
	publish := os.Link
	if replace {
		publish = os.Rename
	}
	if err := publish(tmp, final); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return storage.ErrExists
		}
		return err
	}
	renamed = replace
	return syncDir(dir)
}

// mkdirAll creates dir and its missing parents, fsyncing each parent after a new entry so
// a crash cannot lose the directory a durable file was written into.
func (b *Bucket) mkdirAll(dir string) error {
	if fi, err := os.Stat(dir); err == nil {
		if !fi.IsDir() {
			return fmt.Errorf("%s is not a directory", dir)
		}
		return nil
	}
	parent := filepath.Dir(dir)
	if parent != dir {
		// Inside the bucket each new directory is made and synced in turn; the root's
		// missing ancestors too, as the root is made by the first write (see New).
		if err := b.mkdirAll(parent); err != nil {
			return err
		}
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return nil // created concurrently by another writer
		}
		return err
	}
	return syncDir(parent)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	serr := d.Sync()
	cerr := d.Close()
	if serr != nil {
		return fmt.Errorf("fsync directory %s: %w", dir, serr)
	}
	return cerr
}

// Open returns the file's content; an error wrapping storage.ErrNotFound when no file has
// that key (a directory is not an object).
func (b *Bucket) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	if err := checkKey(key); err != nil {
		return nil, fmt.Errorf("open %q: %w", key, err)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	name := b.URL(key)
	f, err := os.Open(name)
	if err != nil {
		if isMissing(err) {
			return nil, fmt.Errorf("open %s: %w", name, storage.ErrNotFound)
		}
		return nil, fmt.Errorf("open %s: %w", name, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("open %s: %w", name, err)
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("open %s: not a regular file: %w", name, storage.ErrNotFound)
	}
	return f, nil
}

// isMissing is true for errors that mean no file has the name: ENOENT, and ENOTDIR when a
// parent path segment is a file.
func isMissing(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)
}

// List returns every object whose key starts with prefix, sorted by key. The prefix may
// end in the middle of a name ("t/changes/dt=2026-11-21/hour=1"); only the directories
// that can hold a match are walked. Temporary files and non-regular files are skipped.
func (b *Bucket) List(ctx context.Context, prefix string) ([]storage.Object, error) {
	dirPart := ""
	if i := strings.LastIndexByte(prefix, '/'); i >= 0 {
		dirPart = prefix[:i]
		if err := checkKey(dirPart); err != nil {
			return nil, fmt.Errorf("list %q: %w", prefix, err)
		}
	}
	start := filepath.Join(b.root, filepath.FromSlash(dirPart))
	objs := []storage.Object{}
	err := filepath.WalkDir(start, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == start && isMissing(err) {
				return fs.SkipAll
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		rel, err := filepath.Rel(b.root, p)
		if err != nil {
			return err
		}
		key := filepath.ToSlash(rel)
		if d.IsDir() {
			if p == start {
				return nil
			}
			// A directory is worth entering only if a key under it can start with prefix.
			if dk := key + "/"; !strings.HasPrefix(dk, prefix) && !strings.HasPrefix(prefix, dk) {
				return fs.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() || !strings.HasPrefix(key, prefix) || tempName.MatchString(d.Name()) {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			if isMissing(err) {
				return nil // deleted while listing
			}
			return err
		}
		objs = append(objs, storage.Object{Key: key, Size: fi.Size(), ModTime: fi.ModTime()})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", b.URL(prefix), err)
	}
	// The walk is in name order per directory, which is not key order ("a-b" < "a/x").
	sort.Slice(objs, func(i, j int) bool { return objs[i].Key < objs[j].Key })
	return objs, nil
}

// Delete removes the file; a missing file is not an error. Directories are left in place:
// removing one could race with a Create into it.
func (b *Bucket) Delete(ctx context.Context, key string) error {
	if err := checkKey(key); err != nil {
		return fmt.Errorf("delete %q: %w", key, err)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	name := b.URL(key)
	fi, err := os.Lstat(name)
	if err != nil {
		if isMissing(err) {
			return nil
		}
		return fmt.Errorf("delete %s: %w", name, err)
	}
	if fi.IsDir() {
		return nil
	}
	if err := os.Remove(name); err != nil && !isMissing(err) {
		return fmt.Errorf("delete %s: %w", name, err)
	}
	return nil
}

// ctxReader stops a long copy when the context ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
