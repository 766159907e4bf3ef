package queue

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"umbra/internal/clock"
)

// Q-3, Q-4 (poison45 item 4): queue list's LAST ERROR read the queue's
// error in memory, which an attempt's results set before their commit;
// message list reads the record. While the commit of a deferral was set
// aside (result_commit_delay: Store.UpdateDeferred; here DeferLimit is an
// hour, so only Flush commits it) the two disagreed: the queue showed the
// new deferral, its only message the one before — an error no committed
// state held, lost with the results at a crash. Both now read the
// committed results: the queue's error changes with the commit that
// changes the record.
func TestQ3QueueLastErrorAgreesWithMessageWhileResultsSetAside(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "queue.db"), Options{DeferLimit: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	d := newScripted(func(_ string, n int) (Outcome, string) {
		if n == 1 {
			return Deferred, "451 4.3.0 first try later"
		}
		return Deferred, "452 4.3.1 second mailbox full"
	})
	q := NewManager(s, d, ManagerConfig{Clock: clk, RetrySchedule: []time.Duration{time.Minute}})
	aside := make(chan ID, 4)
	hook := func(m *Message) { aside <- m.ID }
	q.deferHook.Store(&hook)
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); q.Wait() }()
	q.Start(ctx)
	m := msg(s, "s@example.org", "x@example.net")
	if err := q.Submit(ctx, m, []byte(body)); err != nil {
		t.Fatal(err)
	}
	// queueError is the LAST ERROR of the queue holding m's recipient,
	// messageError m's as message list gives it.
	shown := func() (queueError, messageError string) {
		t.Helper()
		got, err := q.Message(m.ID)
		if err != nil {
			t.Fatal(err)
		}
		qs, err := q.Queues()
		if err != nil {
			t.Fatal(err)
		}
		for _, qi := range qs {
			if qi.Name == queueOf(&got.Rcpts[0]) {
				queueError = qi.LastError
			}
		}
		return queueError, CurrentError(got)
	}
	wait := func(what string) {
		t.Helper()
		select {
		case <-aside:
		case <-time.After(20 * time.Second):
			t.Fatalf("%s: the results' commit was not set aside", what)
		}
		// Queued for a later commit — or committed already, with
		// another writer's commit that came meanwhile.
		waitFor(t, what+": its results queued for the commit", func() bool {
			got, err := q.Message(m.ID)
			return s.asideN.Load() > 0 || err == nil && got.State != Active
		})
	}
	wait("first attempt")
	if qe, me := shown(); qe != me {
		t.Errorf("first attempt's results set aside: queue list says %q, message list %q", qe, me)
	}
	// The queue's error follows the commit on the committing goroutine
	// (the commit's after-work): both read the new one at once after.
	s.Flush()
	waitFor(t, "the first results committed, shown by both", func() bool {
		qe, me := shown()
		return qe == me && me == "451 4.3.0 first try later"
	})
	clk.Advance(2 * time.Minute)
	q.Kick()
	wait("second attempt")
	if qe, me := shown(); qe != me {
		t.Errorf("second attempt's results set aside: queue list says %q, message list %q", qe, me)
	}
	s.Flush()
	waitFor(t, "the second results committed, shown by both", func() bool {
		qe, me := shown()
		return qe == me && me == "452 4.3.1 second mailbox full"
	})
}
