// Package capturelock keeps two captures of one table from writing into one destination
// at the same time when they do not share the shards through leases. Both would read
// every shard, write the same segments under different roll boundaries and move the same
// checkpoints back and forth; nothing is lost, but everything is stored twice and the
// second capture is almost always a mistake (a service started twice, a cron job beside
// a sidecar). A fleet shares a table through leases instead (replicator.Config.Leases)
// and takes no capture lock.
//
// The lock is one small JSON object in the destination, <table>/capture.lock, holding a
// random owner id, the holder's host, process id and start, and an expiry. A capture
// creates it only if absent (storage.Bucket.Create) and renews it every TTL/3; on a clean
// stop it marks it released (Doc.Released) rather than deleting it, so capture needs no
// permission to delete anything in the destination (deploy/README.md, roles), and the next
// capture takes a released lock at once. A capture that finds the lock held by another live capture stops at
// once with a *LockedError: one line naming the holder and saying what to do.
//
// A lock is stale, and taken over, when its expiry plus Skew (room for the clocks of two
// hosts to disagree) has passed, or at once when its holder ran on this very machine (same
// host name, boot and process namespace) and that process has ended: a capture killed
// with SIGKILL and restarted by systemd, or a test, does not wait for the expiry. Elsewhere
// (another host, another container) only the expiry tells, so a crashed capture's
// successor may have to wait up to TTL+Skew: the error says until when.
//
// The store offers create-if-absent but no compare-and-swap, so a takeover is a Put
// followed by a read-back, and a renewal reads the lock before it writes it. Two captures
// taking over one stale lock at the same moment can both believe they hold it for up to
// one renewal interval; the one whose renewal then finds the other's owner stops with a
// *LostError. A renewal that fails (a full or unreachable destination) does not stop the
// capture, which rides such outages out by retrying its own writes; should the lock lapse
// and be taken meanwhile, the first renewal that works finds the new owner. The lock keeps
// captures apart; the segments' names and the readers' dedupe keep a brief overlap
// harmless.
package capturelock

import (
	"fmt"
	"time"
)

// DefaultTTL is how long a lock lives without renewal; it is renewed every third of it.
const DefaultTTL = 30 * time.Second

// Skew is how long after its expiry a lock is still respected: room for the clocks of
// the holder's and a newcomer's hosts to disagree.
const Skew = 30 * time.Second

// Key is the lock object of table.
func Key(table string) string { return table + "/capture.lock" }

// Doc is the lock object's content: who holds it and until when.
type Doc struct {
	// Owner is a random id, new for every capture run.
	Owner string `json:"owner"`
	// Host, PID and ProcStart name the holder's process for people; with BootID and
	// PIDNamespace they also let a capture on the same machine tell that the holder has
	// ended. Empty where the system does not tell (ProcStart, BootID and PIDNamespace
	// outside Linux).
	Host         string `json:"host"`
	PID          int    `json:"pid"`
	ProcStart    string `json:"proc_start,omitempty"`
	BootID       string `json:"boot_id,omitempty"`
	PIDNamespace string `json:"pid_namespace,omitempty"`
	// Since is when the holder took the lock, Expires when it lapses without renewal.
	Since   time.Time `json:"since"`
	Renewed time.Time `json:"renewed"`
	Expires time.Time `json:"expires"`
	// Released is set by the holder's clean stop: the lock is free.
	Released bool `json:"released,omitempty"`
}

// holder names the holding process for a message: "host-a pid 1234".
func (d Doc) holder() string { return fmt.Sprintf("%s pid %d", d.Host, d.PID) }

// sameMachine tells whether d was written by a process whose pid means the same as ours:
// same host, same boot, same pid namespace.
func (d Doc) sameMachine(me Doc) bool {
	return d.Host == me.Host && d.BootID != "" && d.BootID == me.BootID &&
		d.PIDNamespace != "" && d.PIDNamespace == me.PIDNamespace && d.ProcStart != ""
}

// Verdict is what a capture may do with a lock it found.
type Verdict int

const (
	// Held: the lock is this capture's own (a create whose response was lost, a renewal).
	Held Verdict = iota + 1
	// Stale: the holder is gone; the lock may be taken over.
	Stale
	// Busy: another capture holds the lock and may be running.
	Busy
	// Free: the holder released the lock when it stopped; it may be taken.
	Free
)

// Decision is Decide's answer, with the reason for people.
type Decision struct {
	Verdict Verdict
	Reason  string
	// FreeAt is when a Busy lock becomes stale unless renewed.
	FreeAt time.Time
	// Local is set when the holder is a process of this machine, whose end frees the
	// lock at once.
	Local bool
}

// Decide says what the capture me may do with the lock cur found in the destination at
// now. running reports whether a process with that pid runs on this machine and when it
// started (ProcStart's form); it is asked only about a holder on the same machine.
func Decide(cur, me Doc, now time.Time, running func(pid int) (start string, ok bool)) Decision {
	freeAt := cur.Expires.Add(Skew)
	switch {
	case cur.Owner == me.Owner:
		return Decision{Verdict: Held, Reason: "the lock is this capture's own"}
	case cur.Released:
		return Decision{Verdict: Free, Reason: fmt.Sprintf("%s released it", cur.holder())}
	case now.After(freeAt):
		return Decision{Verdict: Stale, Reason: fmt.Sprintf("the lock of %s expired at %s", cur.holder(), cur.Expires.UTC().Format(time.RFC3339))}
	case cur.sameMachine(me):
		start, ok := running(cur.PID)
		if !ok {
			return Decision{Verdict: Stale, Reason: fmt.Sprintf("process %d on this host has ended", cur.PID)}
		}
		if start != cur.ProcStart {
			return Decision{Verdict: Stale, Reason: fmt.Sprintf("process %d on this host has ended (its pid now belongs to another process)", cur.PID)}
		}
		return Decision{Verdict: Busy, Reason: fmt.Sprintf("process %d on this host is running", cur.PID), FreeAt: freeAt, Local: true}
	default:
		return Decision{Verdict: Busy, Reason: fmt.Sprintf("its lock is renewed until %s", cur.Expires.UTC().Format(time.RFC3339)), FreeAt: freeAt}
	}
}
