package storage

import (
	"context"
	"io"
	"strings"
)

// Sub returns a Bucket whose keys are relative to prefix inside b: key k of the result is
// key prefix+k of b, and List returns keys with prefix removed. prefix normally ends in "/"
// (e.g. "mytable/checkpoints/"); an empty prefix returns b itself.
func Sub(b Bucket, prefix string) Bucket {
	if prefix == "" {
		return b
	}
	return &sub{b: b, prefix: prefix}
}

type sub struct {
	b      Bucket
	prefix string
}

func (s *sub) Create(ctx context.Context, key string, r io.Reader) error {
	return s.b.Create(ctx, s.prefix+key, r)
}

func (s *sub) Put(ctx context.Context, key string, r io.Reader) error {
	return s.b.Put(ctx, s.prefix+key, r)
}

func (s *sub) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	return s.b.Open(ctx, s.prefix+key)
}

func (s *sub) List(ctx context.Context, prefix string) ([]Object, error) {
	objs, err := s.b.List(ctx, s.prefix+prefix)
	if err != nil {
		return nil, err
	}
	for i := range objs {
		objs[i].Key = strings.TrimPrefix(objs[i].Key, s.prefix)
	}
	return objs, nil
}

func (s *sub) Delete(ctx context.Context, key string) error {
	return s.b.Delete(ctx, s.prefix+key)
}

// URL names the object for people (error messages, logs) when the underlying bucket can.
func (s *sub) URL(key string) string {
	return URL(s.b, s.prefix+key)
}

// URL names an object for people: the file path or s3:// URL when b can tell it
// (both backends can), the bare key otherwise.
func URL(b Bucket, key string) string {
	if u, ok := b.(interface{ URL(key string) string }); ok {
		return u.URL(key)
	}
	return key
}
