package storage

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
)

// ErrChecksum is returned (wrapped) by a write whose body does not match the SHA-256 it
// was sealed with (see Sealed): nothing was stored.
var ErrChecksum = errors.New("content does not match its SHA-256")

// SealedReader is a write's body whose SHA-256 the writer knows before the write: see
// Sealed.
type SealedReader struct {
	io.Reader
	// SHA256 is the body's SHA-256, lowercase hex.
	SHA256 string
}

// Sealed marks r as the body of a backup object: a change segment, a snapshot part or
// manifest, a ledger object. Such an object is immutable once stored, and both backends
// treat a sealed body alike:
//
//   - the body is checked against sha256Hex while it is written, and a body that differs
//     is refused with an error wrapping ErrChecksum, leaving nothing stored (on S3 the
//     SHA-256 is sent as the object's additional checksum, so S3 checks it too and keeps
//     it with the object);
//   - Create of a sealed body into a bucket with an Object Lock policy (storage/s3's
//     Options.Lock) stores the object under that retention.
//
// An unsealed body is a coordination object (a checkpoint, a lock, a marker): rewritten
// in place or deleted by its owner, so it never carries a retention.
func Sealed(r io.Reader, sha256Hex string) *SealedReader {
	return &SealedReader{Reader: r, SHA256: sha256Hex}
}

// SealOf returns the SHA-256 r was sealed with; false for an unsealed body.
func SealOf(r io.Reader) (string, bool) {
	if s, ok := r.(*SealedReader); ok {
		return s.SHA256, true
	}
	return "", false
}

// HashReader reads r to its end and returns its SHA-256 (lowercase hex) and length.
func HashReader(r io.Reader) (string, int64, error) {
	h := sha256.New()
	n, err := io.Copy(h, r)
	if err != nil {
		return "", n, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// Verifier hashes what passes through it, for a backend checking a sealed body as it
// writes it. The zero value is unusable: use NewVerifier.
type Verifier struct {
	r    io.Reader
	want string
	h    hash.Hash
}

// NewVerifier reads r, hashing it; Check compares the hash with want (lowercase hex).
func NewVerifier(r io.Reader, want string) *Verifier {
	return &Verifier{r: r, want: want, h: sha256.New()}
}

func (v *Verifier) Read(p []byte) (int, error) {
	n, err := v.r.Read(p)
	v.h.Write(p[:n])
	return n, err
}

// Check reports an error wrapping ErrChecksum when what was read differs from the seal.
// Call it after the body was read to its end.
func (v *Verifier) Check() error {
	if got := hex.EncodeToString(v.h.Sum(nil)); got != v.want {
		return fmt.Errorf("body has SHA-256 %s, sealed with %s: %w", got, v.want, ErrChecksum)
	}
	return nil
}
