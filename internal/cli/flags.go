package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"strings"
	"time"

	"github.com/ddbtape/ddbtape/connect"
)

// NewFlagSet makes a subcommand's flag set: errors are returned, not printed and exited
// on; -h prints usage, the command's synopsis, and its flags as --name.
func NewFlagSet(e *Env, name, usage string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {
		fmt.Fprintf(e.Stderr, "usage: ddbtape %s %s\n\nflags:\n", name, usage)
		printFlags(e.Stderr, fs)
	}
	return fs
}

// Parse parses args and turns every flag mistake into a usage error; -h prints usage
// and returns flag.ErrHelp.
func Parse(fs *flag.FlagSet, args []string) error {
	// The usage is printed for -h only: a mistake gets its one line, not a page.
	usage := fs.Usage
	fs.Usage = func() {}
	err := fs.Parse(args)
	fs.Usage = usage
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			usage()
			return flag.ErrHelp
		}
		return &usageError{msg: flagError(fs, err)}
	}
	if fs.NArg() > 0 {
		return Usagef("unexpected argument %q", fs.Arg(0))
	}
	return nil
}

// printFlags lists fs's flags as the README writes them (--name), as flag.PrintDefaults
// would otherwise (-name).
func printFlags(w io.Writer, fs *flag.FlagSet) {
	var b strings.Builder
	fs.VisitAll(func(f *flag.Flag) {
		typ, usage := flag.UnquoteUsage(f)
		fmt.Fprintf(&b, "  --%s", f.Name)
		if typ != "" {
			fmt.Fprintf(&b, " %s", typ)
		}
		b.WriteString("\n    \t")
		b.WriteString(strings.ReplaceAll(usage, "\n", "\n    \t"))
		if f.DefValue != "" && f.DefValue != "0" && f.DefValue != "false" && f.DefValue != "[]" && f.DefValue != "0s" {
			if typ == "string" {
				fmt.Fprintf(&b, " (default %q)", f.DefValue)
			} else {
				fmt.Fprintf(&b, " (default %v)", f.DefValue)
			}
		}
		b.WriteString("\n")
	})
	io.WriteString(w, b.String())
}

// badNumber is the flag package's error for a value its flag could not parse.
var badNumber = regexp.MustCompile(`^invalid value "([0-9.]+)" for flag -([a-z0-9-]+): `)

// flagError is the flag package's error as the README writes flags (--name), with the
// unit a bare number given to a duration lacks.
func flagError(fs *flag.FlagSet, err error) string {
	msg := err.Error()
	if m := badNumber.FindStringSubmatch(msg); m != nil {
		if f := fs.Lookup(m[2]); f != nil {
			if _, isDuration := f.Value.(flag.Getter).Get().(time.Duration); isDuration {
				return fmt.Sprintf("--%s %s: a duration needs a unit, e.g. %ss or %sm", m[2], m[1], m[1], m[1])
			}
		}
	}
	msg = strings.Replace(msg, "flag provided but not defined: -", "unknown flag --", 1)
	msg = strings.Replace(msg, "for flag -", "for flag --", 1)
	msg = strings.Replace(msg, "flag needs an argument: -", "flag needs an argument: --", 1)
	return msg
}

// RequireTable checks a --table value: DynamoDB table names are 3-255 characters of
// [a-zA-Z0-9_.-].
func RequireTable(name string) error {
	if name == "" {
		return Usagef("--table is required")
	}
	if !connect.ValidTableName(name) {
		return Usagef("--table %q is not a valid DynamoDB table name (3-255 characters of letters, digits, '_', '-', '.')", name)
	}
	return nil
}

// NonNegative rejects negative durations, by flag name.
func NonNegative(durations map[string]time.Duration) error {
	for name, d := range durations {
		if d < 0 {
			return Usagef("--%s must not be negative, got %s", name, d)
		}
	}
	return nil
}

// Strings is a repeatable string flag (--table A --table B).
type Strings []string

func (l *Strings) String() string { return strings.Join(*l, ",") }

// Set adds one value.
func (l *Strings) Set(v string) error {
	*l = append(*l, v)
	return nil
}

// LogFlags choose the structured log's level and format (text for people, json for
// log collectors).
type LogFlags struct {
	Level  string
	Format string
}

// Register adds --log-level and --log-format.
func (l *LogFlags) Register(fs *flag.FlagSet) {
	fs.StringVar(&l.Level, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&l.Format, "log-format", "text", "text or json")
}

// Logger is the log the flags choose, on e's stderr.
func (l *LogFlags) Logger(e *Env) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(l.Level)); err != nil {
		return nil, Usagef("--log-level must be debug, info, warn or error, got %q", l.Level)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch l.Format {
	case "text":
		return slog.New(slog.NewTextHandler(e.Stderr, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(e.Stderr, opts)), nil
	default:
		return nil, Usagef("--log-format must be text or json, got %q", l.Format)
	}
}
