//go:build !linux

package capturelock

// machine adds nothing outside Linux: without a process start time a lock of a crashed
// capture is taken over only after it expires.
func machine(*Doc) {}

// processStart cannot tell outside Linux; machine leaves the lock's fields empty, so
// Decide never asks.
func processStart(int) (string, bool) { return "", false }
