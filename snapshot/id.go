package snapshot

import (
	"crypto/rand"
	"encoding/hex"
	"strings"
	"time"
)

// idTimeLayout makes ids sort by start time as text: 20261121T190412Z-ab12.
const idTimeLayout = "20060102T150405Z"

// NewID names a snapshot started at t: its UTC start to the second, then four random hex
// digits so two snapshots started in the same second do not collide.
func NewID(t time.Time) string {
	var b [2]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return t.UTC().Format(idTimeLayout) + "-" + hex.EncodeToString(b[:])
}

// ValidID tells whether id has the shape NewID gives. --resume checks it before touching
// storage, so an id cannot point outside the snapshots directory.
func ValidID(id string) bool {
	ts, suffix, ok := strings.Cut(id, "-")
	// The time is exactly 20060102T150405Z: time.Parse would also take fractional seconds.
	if !ok || len(suffix) != 4 || len(ts) != len("20060102T150405Z") {
		return false
	}
	if _, err := time.Parse(idTimeLayout, ts); err != nil {
		return false
	}
	_, err := hex.DecodeString(suffix)
	return err == nil && suffix == strings.ToLower(suffix)
}

// IDTime is the start time an id records (UTC, to the second); ok is false for other names.
func IDTime(id string) (time.Time, bool) {
	if !ValidID(id) {
		return time.Time{}, false
	}
	t, err := time.Parse(idTimeLayout, id[:len(idTimeLayout)])
	return t, err == nil
}
