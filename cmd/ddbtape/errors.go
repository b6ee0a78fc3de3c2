package main

import (
	"errors"
	"fmt"

	"github.com/ddbtape/ddbtape/retry"
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

// explain is the line a failed command prints: err's text, or for a call that reached
// no endpoint, which one and what to check (the SDK's own text of a failed dial is
// long and says neither).
func explain(err error) string {
	var ue *retry.UnreachableError
	if errors.As(err, &ue) {
		return err.Error()
	}
	if ep, ok := retry.Unreachable(err); ok {
		return fmt.Sprintf("cannot reach %s: %s", ep, ep.Hint())
	}
	return err.Error()
}
