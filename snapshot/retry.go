package snapshot

import (
	"time"

	"github.com/ddbtape/ddbtape/retry"
)

// DefaultRetryBound is how long one Scan page is retried (throttling, 5xx, broken
// connections) before the snapshot stops, incomplete and resumable.
const DefaultRetryBound = 2 * time.Minute

// retryPolicy is how one page is retried, bound in total: waits doubling from 100 ms to
// at most 5 s, with jitter so the workers of a throttled table do not retry in lockstep.
// The read capacity cap (Config.MaxRCU) is a retry.Limiter with a one-second burst.
func retryPolicy(bound time.Duration) retry.Policy {
	return retry.Policy{Initial: 100 * time.Millisecond, Max: 5 * time.Second, Multiplier: 2, Bound: bound}
}
