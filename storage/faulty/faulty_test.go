package faulty_test

import (
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/ddbtape/ddbtape/internal/s3local"
	"github.com/ddbtape/ddbtape/storage"
	"github.com/ddbtape/ddbtape/storage/dir"
	"github.com/ddbtape/ddbtape/storage/faulty"
	"github.com/ddbtape/ddbtape/storage/s3"
	"github.com/ddbtape/ddbtape/storage/storagetest"
)

func TestMain(m *testing.M) { s3local.Main(m) }

// backends are the real buckets the wrapper is tried over.
var backends = []struct {
	name string
	new  func(t *testing.T) storage.Bucket
}{
	{"dir", func(t *testing.T) storage.Bucket {
		b, err := dir.New(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return b
	}},
	{"versitygw", func(t *testing.T) storage.Bucket {
		srv := s3local.Shared(t)
		return s3.New(srv.Client(), srv.NewBucket(t), "", s3.Options{})
	}},
}

func read(t *testing.T, b storage.Bucket, key string) (string, error) {
	t.Helper()
	rc, err := b.Open(t.Context(), key)
	if err != nil {
		return "", err
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	return string(data), err
}

func TestBucket_WithoutRulesPassesTheSuite(t *testing.T) {
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			storagetest.Run(t, func(t *testing.T) storage.Bucket { return faulty.New(be.new(t)) })
		})
	}
}

func TestBucket_StoredRuleStoresThenReportsTheError(t *testing.T) {
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			for _, tc := range []struct {
				name   string
				op     faulty.Op
				err    error
				wantIs error
			}{
				{"CreateLostResponse", faulty.Create, faulty.ErrLostExists, storage.ErrExists},
				{"CreateServerErrorAfterCommit", faulty.Create, nil, faulty.ErrAfterCommit},
				{"PutServerErrorAfterCommit", faulty.Put, nil, faulty.ErrAfterCommit},
			} {
				t.Run(tc.name, func(t *testing.T) {
					under := be.new(t)
					f := faulty.New(under, faulty.Rule{Ops: tc.op, Key: faulty.Suffix("/manifest.json"), Stored: true, Err: tc.err, Times: 1})
					write := f.Create
					if tc.op == faulty.Put {
						write = f.Put
					}
					key := "t/snapshots/x/manifest.json"
					if err := write(t.Context(), key, strings.NewReader("ours")); !errors.Is(err, tc.wantIs) {
						t.Fatalf("write = %v, want an error wrapping %v", err, tc.wantIs)
					}
					if got, err := read(t, under, key); err != nil || got != "ours" {
						t.Fatalf("the bucket underneath holds %q (%v), want the write stored", got, err)
					}
					// Other keys, and the same key once Times is used up, pass through.
					if err := f.Create(t.Context(), "t/snapshots/x/part-00000.parquet", strings.NewReader("p")); err != nil {
						t.Errorf("Create of another key: %v", err)
					}
					if err := f.Put(t.Context(), key, strings.NewReader("again")); err != nil {
						t.Errorf("Put after the rule fired once: %v", err)
					}
					if ev := f.Fired(); len(ev) != 1 || ev[0].Key != key || !ev[0].Stored || ev[0].Op != tc.op {
						t.Errorf("Fired = %+v, want the one %s of %s", ev, tc.op, key)
					}
				})
			}
		})
	}
}

func TestBucket_RefusingRuleStoresNothing(t *testing.T) {
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			under := be.new(t)
			f := faulty.New(under, faulty.Rule{Ops: faulty.Writes | faulty.Delete, Key: faulty.Prefix("t/")})
			if err := f.Create(t.Context(), "t/a", strings.NewReader("x")); !errors.Is(err, faulty.ErrRefused) {
				t.Fatalf("Create = %v, want ErrRefused", err)
			}
			if err := f.Put(t.Context(), "t/a", strings.NewReader("x")); !errors.Is(err, faulty.ErrRefused) {
				t.Fatalf("Put = %v, want ErrRefused", err)
			}
			if _, err := read(t, under, "t/a"); !errors.Is(err, storage.ErrNotFound) {
				t.Fatalf("after refused writes Open = %v, want ErrNotFound", err)
			}
			if err := under.Put(t.Context(), "t/b", strings.NewReader("keep")); err != nil {
				t.Fatal(err)
			}
			if err := f.Delete(t.Context(), "t/b"); !errors.Is(err, faulty.ErrRefused) {
				t.Fatalf("Delete = %v, want ErrRefused", err)
			}
			if got, err := read(t, f, "t/b"); err != nil || got != "keep" {
				t.Fatalf("after a refused Delete the object reads %q, %v", got, err)
			}
		})
	}
}

func TestBucket_StoredDeleteDeletesThenFails(t *testing.T) {
	under, err := dir.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := under.Put(t.Context(), "t/a", strings.NewReader("x")); err != nil {
		t.Fatal(err)
	}
	f := faulty.New(under, faulty.Rule{Ops: faulty.Delete, Stored: true})
	if err := f.Delete(t.Context(), "t/a"); !errors.Is(err, faulty.ErrAfterCommit) {
		t.Fatalf("Delete = %v, want ErrAfterCommit", err)
	}
	if _, err := read(t, under, "t/a"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("Open after the stored Delete = %v, want ErrNotFound", err)
	}
}
