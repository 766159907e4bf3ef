package queue

import (
	"context"
	"testing"
	"time"
)

// SPEC, OPS-3: a panic in an operator's action under the
// scheduler's lock (queue suspend: its mark and withdrawal, one step
// under that lock) crashes the daemon on purpose (part admin), as the
// queue's own goroutines do where a lock may be held. The admin API's
// server recovers a handler's panic (net/http does; the child does so
// here): with the unlock not deferred, the lock stayed held and every
// job's start and end, the loop and the stop blocked for good while the
// daemon went on accepting mail. After the restart the message is
// delivered. Seen to fail first: no crash — the subprocess ran on with
// the lock held ("no crash: the panic was recovered").
func TestQ5AdminPanicUnderSchedLockCrashes(t *testing.T) {
	if s, ok := crashChild(t); ok {
		p := newPlanned()
		p.stall["slow.test"] = true
		q := NewManager(s, p, ManagerConfig{MaxActive: 8, RetrySchedule: []time.Duration{time.Hour}})
		ctx := context.Background()
		q.Start(ctx)
		if err := q.Submit(ctx, msg(s, "a@example.org", "x@one.test"), []byte(body)); err != nil {
			t.Fatal(err)
		}
		hook := func() { panic("injected panic in queue suspend under the scheduler's lock") }
		q.sched.suspendHook.Store(&hook)
		func() {
			defer func() { _ = recover() }() // as net/http's server does for a handler
			_ = q.SuspendQueue(ctx, "mx:slow.test")
		}()
		noCrash(t)
		return
	}
	restarted(t, crashes(t, PanicAdmin))
}
