package main

import (
	"errors"

	"github.com/ddbtape/ddbtape/restore"
)

// unconfirmed reports whether err is a write into a live table that was planned and shown
// but not confirmed with --yes: exit status 2, nothing written.
func unconfirmed(err error) bool { return errors.Is(err, restore.ErrNotConfirmed) }
