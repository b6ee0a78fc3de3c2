package capturelock

import (
	"strings"
	"testing"
	"time"
)

func TestDecide(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	me := Doc{Owner: "me", Host: "h1", PID: 10, ProcStart: "500", BootID: "boot", PIDNamespace: "pid:[1]"}
	// other is a lock of another owner; mutate adjusts it.
	other := func(mutate func(*Doc)) Doc {
		d := Doc{Owner: "other", Host: "h2", PID: 20, ProcStart: "700", BootID: "boot2", PIDNamespace: "pid:[2]",
			Since: now.Add(-time.Hour), Renewed: now.Add(-5 * time.Second), Expires: now.Add(25 * time.Second)}
		if mutate != nil {
			mutate(&d)
		}
		return d
	}
	onThisMachine := func(d *Doc) { d.Host, d.BootID, d.PIDNamespace = me.Host, me.BootID, me.PIDNamespace }
	// processes running on this machine: pid -> start
	procs := map[int]string{10: "500", 20: "700", 30: "999"}
	running := func(pid int) (string, bool) { s, ok := procs[pid]; return s, ok }

	for _, tc := range []struct {
		name   string
		cur    Doc
		want   Verdict
		reason string
	}{
		{"OurOwnLock", Doc{Owner: "me", Expires: now.Add(-time.Hour)}, Held, "own"},
		{"AnotherHostLiveLock", other(nil), Busy, "renewed until 2026-03-01T12:00:25Z"},
		// A clean stop marks its lock released (capture deletes nothing): free at once.
		{"ReleasedByItsHolder", other(func(d *Doc) { onThisMachine(d); d.Released = true }), Free, "h1 pid 20 released it"},
		{"AnotherHostExpiredButWithinSkew", other(func(d *Doc) { d.Expires = now.Add(-Skew) }), Busy, "renewed until"},
		{"AnotherHostExpiredPastSkew", other(func(d *Doc) { d.Expires = now.Add(-Skew - time.Second) }), Stale, "expired at 2026-03-01T11:59:29Z"},
		{"ThisMachineProcessRunning", other(onThisMachine), Busy, "process 20 on this host is running"},
		{"ThisMachineProcessEnded", other(func(d *Doc) { onThisMachine(d); d.PID = 40 }), Stale, "process 40 on this host has ended"},
		{"ThisMachinePIDReused", other(func(d *Doc) { onThisMachine(d); d.PID = 30 }), Stale, "pid now belongs to another process"},
		// Two captures of one table in one process: same pid, same start.
		{"ThisProcessAnotherCapture", other(func(d *Doc) { onThisMachine(d); d.PID, d.ProcStart = 10, "500" }), Busy, "process 10 on this host is running"},
		// Same host name but another boot, or another pid namespace (a container): pids
		// mean nothing here, only the expiry counts.
		{"SameHostAnotherBoot", other(func(d *Doc) { onThisMachine(d); d.BootID, d.PID = "boot0", 40 }), Busy, "renewed until"},
		{"SameHostAnotherPIDNamespace", other(func(d *Doc) { onThisMachine(d); d.PIDNamespace, d.PID = "pid:[9]", 40 }), Busy, "renewed until"},
		{"SameHostNoProcessStart", other(func(d *Doc) { onThisMachine(d); d.ProcStart, d.PID = "", 40 }), Busy, "renewed until"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := Decide(tc.cur, me, now, running)
			if d.Verdict != tc.want || !strings.Contains(d.Reason, tc.reason) {
				t.Errorf("Decide = %v %q, want %v with %q", d.Verdict, d.Reason, tc.want, tc.reason)
			}
			if d.Local != strings.Contains(d.Reason, "on this host is running") {
				t.Errorf("Local = %v for %q", d.Local, d.Reason)
			}
			if d.Verdict == Busy && !d.FreeAt.Equal(tc.cur.Expires.Add(Skew)) {
				t.Errorf("FreeAt = %s, want expiry plus skew %s", d.FreeAt, tc.cur.Expires.Add(Skew))
			}
		})
	}
}
