package shards

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"

	"github.com/ddbtape/ddbtape/retry"
)

// StartPosition says where a shard without checkpoint is read from.
type StartPosition int

const (
	// TrimHorizon starts at the oldest record still in the stream (24-hour retention).
	TrimHorizon StartPosition = iota
	// Latest starts after the newest record: only changes made from now on.
	Latest
)

func (p StartPosition) String() string {
	if p == Latest {
		return "latest"
	}
	return "trim-horizon"
}

// ParseStartPosition parses "trim-horizon" or "latest" (the --start flag's values).
func ParseStartPosition(s string) (StartPosition, error) {
	switch strings.ToLower(s) {
	case "trim-horizon", "trim_horizon":
		return TrimHorizon, nil
	case "latest":
		return Latest, nil
	}
	return 0, fmt.Errorf("start position %q: want trim-horizon or latest", s)
}

// Defaults of the Reader's settings.
const (
	DefaultPollInterval = time.Second
	// DefaultMaxIdleInterval makes an idle shard cost at most 60 GetRecords an hour (the
	// calls are billed, per shard), and keeps the wait before a resumed write is read
	// within a segment's default roll age.
	DefaultMaxIdleInterval = time.Minute
	DefaultLimit           = 1000 // the most GetRecords returns in one call
	DefaultRetryBound      = 5 * time.Minute
)

// Reader reads the shards of one stream. Its zero fields take the defaults above. A Reader
// is not changed by Read, so one Reader may read many shards concurrently.
type Reader struct {
	API       StreamsAPI
	StreamARN string
	Logger    *slog.Logger // nil: discard
	// PollInterval is the wait between polls of an open shard after records came back
	// (GetRecords calls are billed, and Streams allows about five per second per shard).
	PollInterval time.Duration
	// MaxIdleInterval caps the wait between polls that keep coming back empty; it is also
	// how stale an idle shard's coverage can get.
	MaxIdleInterval time.Duration
	// Limit is GetRecords' Limit; a full batch makes the reader poll again at once.
	Limit int32
	// RetryBound is how long one call may keep failing with retryable errors (throttling,
	// 5xx, connection errors) before Read gives up with an error wrapping retry.ErrGaveUp.
	RetryBound time.Duration
	// Sleep waits d or until ctx ends; injectable so tests do not sleep.
	Sleep func(ctx context.Context, d time.Duration) error
	// Now is the clock for PolledAt and the retry bound.
	Now func() time.Time
	// Observer hears of every call and retry (for metrics); nil: nobody.
	Observer Observer
	// Transcode reads GetRecords answers off the wire (see wire.go): each record's items
	// come in Batch.Images in the stored form of ddbjson.FromStreams, and the records'
	// Keys, NewImage and OldImage are left nil.
	Transcode bool
}

// Observer hears about the calls a Reader makes. It must not block: it is called from the
// read loop. op is the API operation (GetRecords, GetShardIterator, DescribeStream).
type Observer interface {
	// Call is one request answered, failed ones included (GetRecords is the billed unit).
	Call(op string)
	// Retry is a failed request about to be retried; throttled tells a rate limit.
	Retry(op string, throttled bool)
	// GaveUp is a request that kept failing for the whole retry bound: the call returns
	// an error wrapping retry.ErrGaveUp.
	GaveUp(op string)
}

type nopObserver struct{}

func (nopObserver) Call(string)        {}
func (nopObserver) Retry(string, bool) {}
func (nopObserver) GaveUp(string)      {}

// config returns a copy of r with the defaults filled in.
func (r *Reader) config() Reader {
	c := *r
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.PollInterval <= 0 {
		c.PollInterval = DefaultPollInterval
	}
	if c.MaxIdleInterval <= 0 {
		c.MaxIdleInterval = DefaultMaxIdleInterval
	}
	if c.MaxIdleInterval < c.PollInterval {
		c.MaxIdleInterval = c.PollInterval
	}
	if c.Limit <= 0 {
		c.Limit = DefaultLimit
	}
	if c.RetryBound <= 0 {
		c.RetryBound = DefaultRetryBound
	}
	if c.Sleep == nil {
		c.Sleep = retry.Sleep
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Observer == nil {
		c.Observer = nopObserver{}
	}
	return c
}

func (r *Reader) retrier(log *slog.Logger) *retrier { return newRetrier(r, log) }

// maxConsecutiveGaps stops a reader whose fresh TRIM_HORIZON iterators keep meeting
// trimmed data: something else is wrong, and looping would only record gap after gap.
const maxConsecutiveGaps = 3

// maxConsecutiveExpired stops a reader whose renewed iterators expire before their first
// use (a badly skewed clock, say), instead of spinning on GetShardIterator.
const maxConsecutiveExpired = 3

// Read reads shard from just after sequence number after, or, when after is empty, from
// start, and calls h with the result of every GetRecords call, in order, including empty
// ones (they tell the caller the shard was polled at PolledAt and had nothing new).
//
// Read returns nil after h accepted the batch with End set: the shard is closed and read
// to its end. It returns ctx.Err() when ctx ends, h's error unchanged when h fails, and
// an error wrapping retry.ErrGaveUp when a call kept failing with retryable errors for longer
// than RetryBound; in every case h has seen nothing that was not read, and nothing the
// caller stored is skipped when it resumes from its checkpoint.
//
// While a shard is behind or closed, the next GetRecords is in flight while h handles a
// batch (one batch ahead, no more).
// Expired iterators are renewed just after the last record fetched (or at the original
// start when none was), so no record is lost or repeated. A start from Latest
// renewed that way can only start at the new tip; iterators expire after 15 minutes,
// so that needs a handler blocked that long with nothing delivered.
//
// Trimmed records (TrimmedDataAccessException: the 24-hour retention removed records
// before they were read) are reported as a batch with Trimmed set and no records; the
// read then continues from TRIM_HORIZON, the oldest record still readable. When the
// shard itself is gone (ResourceNotFoundException for the shard: it was closed and
// trimmed away entirely, or the stream was deleted), h gets a batch with Trimmed and
// End set and Read returns nil; Trimmed is left unset when the caller's position was
// already at the shard's ending sequence number, since then nothing was lost.
//
// Open shards are polled again at once after a full batch, after PollInterval after a
// batch with records, and with a wait doubling up to MaxIdleInterval while polls stay
// empty. Closed shards are read without waits: they may return empty pages before
// their end.
func (r *Reader) Read(ctx context.Context, shard Shard, after string, start StartPosition, h Handler) error {
	if r.API == nil || shard.ID == "" || h == nil {
		return errors.New("shards: Read needs API, a shard id and a handler")
	}
	c := r.config()
	log := c.Logger.With("shard", shard.ID)
	sr := &shardRead{c: c, shard: shard, log: log, rt: c.retrier(log), h: h, last: after, start: start}
	return sr.run(ctx)
}

// shardRead is the state of one Read call.
type shardRead struct {
	c     Reader
	shard Shard
	log   *slog.Logger
	rt    *retrier
	h     Handler
	// out carries fetch's batches to run's loop, which hands them to h.
	out chan fetchedBatch
	// last is the sequence number of the last record fetched (handed, or about to be
	// handed, to h), or the caller's `after` until one is; empty when reading from start.
	last  string
	start StartPosition
	// gaps counts Trimmed batches in a row, expired iterators that expired in a row.
	gaps    int
	expired int
}

// run hands h the batches fetch reads, in order. While a shard is behind (full batches)
// or closed, fetch reads one batch ahead: the next GetRecords is in flight while h
// converts and stores the previous batch, and at most one batch waits for h (memory: the
// batch h holds and one more).
func (s *shardRead) run(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	fctx, stop := context.WithCancel(ctx)
	defer stop()
	s.out = make(chan fetchedBatch)
	fetched := make(chan error, 1)
	go func() {
		defer close(s.out)
		fetched <- s.fetch(fctx)
	}()
	delivered := 0
	for f := range s.out {
		b := f.Batch
		if err := s.h(ctx, b); err != nil {
			stop()
			for range s.out {
			}
			return err
		}
		if f.handled != nil {
			close(f.handled)
		}
		delivered += len(b.Records)
		if b.End {
			s.log.Info("shard read to its end", "records", delivered, "last_sequence", s.last)
			stop()
			for range s.out {
			}
			return nil
		}
	}
	return <-fetched
}

// fetchedBatch is a batch on its way to h; handled, when set, is closed once h accepted it.
type fetchedBatch struct {
	Batch
	handled chan struct{}
}

// emit hands b to run's loop, which passes it to h. With wait, it returns once h
// accepted b: the next poll of an open shard that is not behind (its wait, its empty
// answer) follows what h did with this batch, as when nothing is read ahead.
func (s *shardRead) emit(ctx context.Context, b Batch, wait bool) error {
	f := fetchedBatch{Batch: b}
	if wait {
		f.handled = make(chan struct{})
	}
	// Sent even after a stop: run's loop takes every batch (it hands it to h, or drops it
	// after h failed), so what a call in flight read still reaches h.
	s.out <- f
	if !wait {
		return nil
	}
	select {
	case <-f.handled:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// fetch reads the shard into s.out until its end, ctx's end or an error.
func (s *shardRead) fetch(ctx context.Context) error {
	if s.last != "" {
		s.log.Info("shard read starting", "start", "after_sequence_number", "after", s.last, "open", s.shard.Open())
	} else {
		s.log.Info("shard read starting", "start", s.start.String(), "open", s.shard.Open())
	}
	iter, done, err := s.iterator(ctx)
	if err != nil || done {
		return err
	}
	idle := s.c.PollInterval
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		var (
			out      *dynamodbstreams.GetRecordsOutput
			polledAt time.Time
		)
		err := s.rt.do(ctx, "GetRecords", "get records "+s.shard.ID, func(ctx context.Context) error {
			polledAt = s.c.Now()
			var err error
			var opts []func(*dynamodbstreams.Options)
			if s.c.Transcode {
				opts = append(opts, withReadPage)
			}
			out, err = s.c.API.GetRecords(ctx, &dynamodbstreams.GetRecordsInput{
				ShardIterator: aws.String(iter),
				Limit:         aws.Int32(s.c.Limit),
			}, opts...)
			return err
		})
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			switch apiCode(err) {
			case codeExpiredIterator:
				s.expired++
				if s.expired > maxConsecutiveExpired {
					return fmt.Errorf("get records %s: %d fresh iterators in a row expired before use (check this host's clock): %w",
						s.shard.ID, maxConsecutiveExpired, err)
				}
				s.log.Info("shard iterator expired, renewing", "after", s.last)
			case codeTrimmed:
				if err := s.gap(ctx, "get records", err); err != nil {
					return err
				}
			case codeResourceNotFound:
				return s.gone(ctx, err)
			default:
				return fmt.Errorf("get records %s: %w", s.shard.ID, err)
			}
			if iter, done, err = s.iterator(ctx); err != nil || done {
				return err
			}
			continue
		}

		s.expired = 0
		b := Batch{ShardID: s.shard.ID, Records: out.Records, PolledAt: polledAt, End: out.NextShardIterator == nil}
		if p, ok := page(out); ok {
			b.Records, b.Images = p.Records, p.Images
		}
		if t, ok := awsmiddleware.GetServerTime(out.ResultMetadata); ok {
			b.ServerTime = t.UTC()
		}
		n := len(b.Records)
		if n > 0 {
			if d := b.Records[n-1].Dynamodb; d != nil && aws.ToString(d.SequenceNumber) != "" {
				s.last = aws.ToString(d.SequenceNumber)
			}
			s.gaps = 0
		}
		// Read ahead only when the next poll follows at once: a full batch (a backlog) or
		// a closed shard.
		ahead := n >= int(s.c.Limit) || !s.shard.Open()
		if err := s.emit(ctx, b, !ahead && !b.End); err != nil {
			return err
		}
		if b.End {
			return nil
		}
		iter = aws.ToString(out.NextShardIterator)

		if !s.shard.Open() {
			continue
		}
		var wait time.Duration
		switch {
		case n >= int(s.c.Limit):
			idle = s.c.PollInterval
		case n > 0:
			idle = s.c.PollInterval
			wait = s.c.PollInterval
		default:
			wait = idle
			idle = min(idle*2, s.c.MaxIdleInterval)
		}
		if wait > 0 {
			if err := s.c.Sleep(ctx, wait); err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				return err
			}
		}
	}
}

// iterator gets an iterator at the read position: after s.last, else at s.start. It
// handles a trimmed position (gap, then TRIM_HORIZON) and a vanished shard (done).
func (s *shardRead) iterator(ctx context.Context) (iter string, done bool, err error) {
	for {
		in := &dynamodbstreams.GetShardIteratorInput{
			StreamArn: aws.String(s.c.StreamARN),
			ShardId:   aws.String(s.shard.ID),
		}
		switch {
		case s.last != "":
			in.ShardIteratorType = types.ShardIteratorTypeAfterSequenceNumber
			in.SequenceNumber = aws.String(s.last)
		case s.start == Latest:
			in.ShardIteratorType = types.ShardIteratorTypeLatest
		default:
			in.ShardIteratorType = types.ShardIteratorTypeTrimHorizon
		}
		var out *dynamodbstreams.GetShardIteratorOutput
		err := s.rt.do(ctx, "GetShardIterator", "get shard iterator "+s.shard.ID, func(ctx context.Context) error {
			var err error
			out, err = s.c.API.GetShardIterator(ctx, in)
			return err
		})
		switch {
		case err == nil && aws.ToString(out.ShardIterator) != "":
			return aws.ToString(out.ShardIterator), false, nil
		case err == nil:
			return "", false, fmt.Errorf("get shard iterator %s: response has no iterator", s.shard.ID)
		case ctx.Err() != nil:
			return "", false, ctx.Err()
		}
		switch apiCode(err) {
		case codeTrimmed:
			if in.ShardIteratorType == types.ShardIteratorTypeTrimHorizon {
				return "", false, fmt.Errorf("get shard iterator %s at TRIM_HORIZON: %w: %w", s.shard.ID, ErrShardTrimmed, err)
			}
			if err := s.gap(ctx, "get shard iterator", err); err != nil {
				return "", false, err
			}
			continue
		case codeResourceNotFound:
			return "", true, s.gone(ctx, err)
		}
		return "", false, fmt.Errorf("get shard iterator %s: %w", s.shard.ID, err)
	}
}

// gap hands h a Trimmed batch and moves the read position to TRIM_HORIZON.
func (s *shardRead) gap(ctx context.Context, call string, cause error) error {
	s.gaps++
	if s.gaps > maxConsecutiveGaps {
		return fmt.Errorf("%s %s: trimmed again after %d gaps in a row: %w: %w", call, s.shard.ID, maxConsecutiveGaps, ErrShardTrimmed, cause)
	}
	s.log.Warn("records trimmed before they were read: gap; continuing from the oldest readable record",
		"call", call, "after", s.last, "error", cause)
	if err := s.emit(ctx, Batch{ShardID: s.shard.ID, PolledAt: s.c.Now(), Trimmed: true}, true); err != nil {
		return err
	}
	s.last = ""
	s.start = TrimHorizon
	return nil
}

// gone hands h the final batch of a shard that no longer exists.
func (s *shardRead) gone(ctx context.Context, cause error) error {
	complete := s.shard.EndingSequence != "" && s.last != "" && SequenceNumber(s.last).Compare(SequenceNumber(s.shard.EndingSequence)) >= 0
	if complete {
		s.log.Info("shard no longer exists; it was already read to its end", "last_sequence", s.last)
	} else {
		s.log.Warn("shard no longer exists: records after the last one read are lost (gap)",
			"after", s.last, "error", cause)
	}
	return s.emit(ctx, Batch{ShardID: s.shard.ID, PolledAt: s.c.Now(), Trimmed: !complete, End: true}, false)
}
