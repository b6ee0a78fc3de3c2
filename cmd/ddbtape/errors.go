package main

import (
	"errors"
	"fmt"

	"github.com/ddbtape/ddbtape/restore"
)

// usageError is a mistake in the command line: exit status 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

func isUsage(err error) bool {
	var u *usageError
	return errors.As(err, &u)
}

// unconfirmed reports whether err is a write into a live table that was planned and shown
// but not confirmed with --yes: exit status 2, nothing written.
func unconfirmed(err error) bool { return errors.Is(err, restore.ErrNotConfirmed) }
