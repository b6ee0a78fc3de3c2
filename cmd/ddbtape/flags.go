package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	"github.com/aws/smithy-go/logging"
)

// newFlagSet makes a subcommand's flag set: errors are returned, not printed and exited on.
func newFlagSet(e *env, name, usage string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {
		fmt.Fprintf(e.stderr, "usage: ddbtape %s %s\n\nflags:\n", name, usage)
		printFlags(e.stderr, fs)
	}
	return fs
}

// parseFlags parses args and turns every flag mistake into a usage error; -h prints usage.
func parseFlags(fs *flag.FlagSet, args []string) error {
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
		return usagef("unexpected argument %q", fs.Arg(0))
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

// awsFlags are the flags every command takes to reach AWS, on top of the SDK's own
// configuration chain (AWS_REGION, profiles, AWS_ENDPOINT_URL_DYNAMODB, ...).
type awsFlags struct {
	region      string
	endpointURL string
	// log, when set, receives the SDK's own log lines at debug level; otherwise they are
	// dropped (they would break the one-line error contract on stderr).
	log *slog.Logger
}

func (a *awsFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&a.region, "region", "", "AWS region (default: the SDK's configuration, e.g. AWS_REGION)")
	fs.StringVar(&a.endpointURL, "endpoint-url", "", "endpoint for DynamoDB and DynamoDB Streams, e.g. http://localhost:8000 for DynamoDB Local")
}

func (a *awsFlags) load(ctx context.Context) (aws.Config, error) {
	var sdkLog logging.Logger = logging.Nop{}
	if a.log != nil {
		log := a.log
		sdkLog = logging.LoggerFunc(func(class logging.Classification, format string, v ...any) {
			log.Debug(fmt.Sprintf(format, v...), "source", "aws-sdk", "class", string(class))
		})
	}
	// The logger goes in while loading too: the credential chain's own clients (IMDS)
	// would otherwise print their warnings on stderr.
	opts := []func(*config.LoadOptions) error{config.WithLogger(sdkLog)}
	if a.region != "" {
		opts = append(opts, config.WithRegion(a.region))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("load AWS configuration: %w (check AWS_PROFILE and ~/.aws/config)", err)
	}
	if cfg.Region == "" {
		return aws.Config{}, usagef("no AWS region: pass --region or set AWS_REGION")
	}
	if err := checkCredentials(ctx, cfg); err != nil {
		return aws.Config{}, err
	}
	return cfg, nil
}

// credentialsTimeout bounds the credential chain's first lookup (an instance role's
// endpoint that does not answer would otherwise hold the command for minutes).
const credentialsTimeout = 20 * time.Second

// errNoCredentials names every way to give the SDK credentials.
var errNoCredentials = errors.New("no AWS credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE, or run with an IAM role (DynamoDB Local and test S3 servers accept any, e.g. AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local)")

// checkCredentials looks the credentials up once, so that their absence is said at
// start in one line, not as the SDK's chain of failed providers on the first call.
func checkCredentials(ctx context.Context, cfg aws.Config) error {
	if cfg.Credentials == nil {
		return errNoCredentials
	}
	ctx, cancel := context.WithTimeout(ctx, credentialsTimeout)
	defer cancel()
	if _, err := cfg.Credentials.Retrieve(ctx); err != nil {
		if ctx.Err() != nil && !errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return ctx.Err()
		}
		return errNoCredentials
	}
	return nil
}

func (a *awsFlags) dynamoDB(cfg aws.Config) *dynamodb.Client {
	return dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) {
		if a.endpointURL != "" {
			o.BaseEndpoint = aws.String(a.endpointURL)
		}
	})
}

func (a *awsFlags) streams(cfg aws.Config) *dynamodbstreams.Client {
	return dynamodbstreams.NewFromConfig(cfg, func(o *dynamodbstreams.Options) {
		if a.endpointURL != "" {
			o.BaseEndpoint = aws.String(a.endpointURL)
		}
	})
}

// requireTable checks a --table value: DynamoDB table names are 3-255 characters of
// [a-zA-Z0-9_.-].
func requireTable(name string) error {
	if name == "" {
		return usagef("--table is required")
	}
	if len(name) < 3 || len(name) > 255 || strings.Trim(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") != "" {
		return usagef("--table %q is not a valid DynamoDB table name (3-255 characters of letters, digits, '_', '-', '.')", name)
	}
	return nil
}

// durationFlag rejects negative durations with a usage error.
func nonNegative(name string, d time.Duration) error {
	if d < 0 {
		return usagef("--%s must not be negative, got %s", name, d)
	}
	return nil
}
