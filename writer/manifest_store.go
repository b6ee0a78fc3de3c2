package writer

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"

	"github.com/ddbtape/ddbtape/storage"
)

// maxManifestBytes bounds how much of a manifest object is read: far above any real one
// (a part adds about 200 bytes), far below what would hurt.
const maxManifestBytes = 64 << 20

// CreateManifest stores an encoded manifest (EncodeManifest) under key with Create, so it
// never replaces another. A write that reports failure may have happened all the same: on
// S3 a PUT whose response was lost is retried and refused with 412, which reads as
// storage.ErrExists, and a 5xx can come after the commit. So after an error the key is
// read back, and if it holds exactly data the manifest is stored and CreateManifest
// returns nil. Otherwise it returns the write's error; the caller must not conclude from
// it that no manifest is there (StoredManifest tells).
func CreateManifest(ctx context.Context, b storage.Bucket, key string, data []byte) error {
	sum := sha256.Sum256(data)
	err := b.Create(ctx, key, storage.Sealed(bytes.NewReader(data), hex.EncodeToString(sum[:])))
	if err == nil {
		return nil
	}
	stored, _, rerr := StoredManifest(ctx, b, key)
	if rerr == nil && bytes.Equal(stored, data) {
		return nil
	}
	return err
}

// StoredManifest reads the object under key: its bytes and the manifest they decode to.
// The error wraps storage.ErrNotFound when there is no object, and ErrInvalidManifest
// (with the bytes returned) when it is not a valid manifest.
func StoredManifest(ctx context.Context, b storage.Bucket, key string) ([]byte, Manifest, error) {
	rc, err := b.Open(ctx, key)
	if err != nil {
		return nil, Manifest{}, fmt.Errorf("read manifest %s: %w", storage.URL(b, key), err)
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, maxManifestBytes))
	if err != nil {
		return nil, Manifest{}, fmt.Errorf("read manifest %s: %w", storage.URL(b, key), err)
	}
	m, err := DecodeManifest(data)
	if err != nil {
		return data, Manifest{}, fmt.Errorf("manifest %s: %w", storage.URL(b, key), err)
	}
	return data, m, nil
}
