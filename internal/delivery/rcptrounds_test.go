package delivery

import (
	"testing"
	"time"

	"umbra/internal/queue"
)

// SPEC Q-5 (at least once, never twice on a crash), SMTP "too many
// recipients" (RFC 5321 §4.5.3.1.10): a next hop that takes one
// recipient per transaction refuses the second with 452 4.5.3, and
// umbra sends it in a new transaction of the same session at once. The
// first round's results waited in memory for the last round to end: a
// crash while the second transaction ran (its final dot unanswered,
// here) left the first round's recipient pending on disk, and the next
// start relayed it again — a duplicate at the next hop. Each round's
// results are committed when that round ends: while the second round
// hangs, the record on disk has the first round's recipient relayed, so
// a restart from it (Recover) sends only the second's. The same when the
// next hop closes the session after the first round's data and the
// second round goes on a new session (Deliver, batchedLeft): the first
// round is committed before the next transaction is tried on the closed
// session.
func TestQ5TooManyRecipientsRoundCommitsBeforeNextRound(t *testing.T) {
	for _, tc := range []struct {
		name             string
		pipelining, drop bool
		port             string
	}{{"one command at a time", false, false, "3862"}, {"pipelined", true, false, "3863"}, {"a new session", false, true, "3864"}} {
		t.Run(tc.name, func(t *testing.T) {
			hop := startFaultHopAt(t, "127.0.0.156:"+tc.port+"1", false)
			hop.mu.Lock()
			hop.pipelining, hop.maxRcpts, hop.closeAfterData = tc.pipelining, 1, tc.drop
			hop.mu.Unlock()
			r := startFaultRigOn(t, "127.0.0.156", "127.0.0.156:"+tc.port+"2", hop, 0, 60*time.Second, 60*time.Second, time.Hour)
			id := r.submit(t, "first@remote.test", "dhang@remote.test")
			deadline := time.Now().Add(20 * time.Second) // a bound on the test, not a timing assertion
			for {
				hop.mu.Lock()
				hung := hop.dotsHung
				hop.mu.Unlock()
				if hung == 1 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("the second round never reached its final dot: %q", r.ev.events)
				}
				time.Sleep(5 * time.Millisecond)
			}
			if got := hop.got("first@remote.test"); len(got) != 1 {
				t.Fatalf("the first round's recipient reached the next hop %d times, want 1", len(got))
			}
			// The second round hangs: what a kill -9 now would leave on disk.
			var first queue.RcptStatus
			for time.Now().Before(deadline) {
				m, err := r.q.Message(id)
				if err != nil {
					t.Fatal(err)
				}
				if first = m.Rcpts[0].Status; first != queue.Pending {
					break
				}
				time.Sleep(5 * time.Millisecond)
			}
			if first == queue.Pending {
				t.Fatalf("while the second round runs, the first round's recipient (relayed) is pending on disk: a restart would send it again")
			}
		})
	}
}
