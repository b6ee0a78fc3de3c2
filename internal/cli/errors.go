package cli

import (
	"errors"
	"fmt"

	"github.com/ddbtape/ddbtape/retry"
)

// usageError is a mistake in the command line: exit status 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

// Usagef is a mistake in the command line.
func Usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// Usage makes err, whose text says what is wrong with the command line, a usage error.
func Usage(err error) error { return &usageError{msg: err.Error()} }

// IsUsage reports whether err is a mistake in the command line, or a wrong setting a
// library reports with a Setting method (connect.SettingError).
func IsUsage(err error) bool {
	var u *usageError
	var s interface{ Setting() }
	return errors.As(err, &u) || errors.As(err, &s)
}

// Explain is the line a failed command prints: err's text, or for a call that reached
// no endpoint, which one and what to check (the SDK's own text of a failed dial is
// long and says neither).
func Explain(err error) string {
	var ue *retry.UnreachableError
	if errors.As(err, &ue) {
		return err.Error()
	}
	if ep, ok := retry.Unreachable(err); ok {
		return fmt.Sprintf("cannot reach %s: %s", ep, ep.Hint())
	}
	return err.Error()
}
