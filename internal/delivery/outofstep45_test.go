package delivery

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"umbra/internal/queue"
	"umbra/internal/testsupport"
)

// SMTP-1, Q-3 (rr deliv45): on a fresh session, a next hop that answers
// one recipient's RCPT out of step (503 5.5.1) while it accepted the
// others gets the message for those it accepted — before the reply out
// of step and after it —, lock-step as pipelined: they were accepted,
// and each keeps its own reply. Before, in lock-step the ones accepted
// before it were deferred quoting the 503 they never got, and the ones
// after it were never asked, deferred with the same quote, while with
// pipelining all of them were delivered. The recipient answered out of
// step is deferred with umbra's 451 4.4.2 quoting its reply, and the
// session is not kept.
func TestSMTP1OutOfStepRcptLeavesTheAcceptedDelivered(t *testing.T) {
	for k, pipelining := range []bool{false, true} {
		t.Run(fmt.Sprintf("pipelining=%v", pipelining), func(t *testing.T) {
			const refusal = "503 5.5.1 Error: bad sequence of commands"
			ln := testsupport.Listen(t, fmt.Sprintf("127.0.0.160:%d", 7461+k))
			s := startStepServerOn(t, ln, pipelining, func(conn, txn int, cmd string) string { return "" })
			s.rcptAnswer = func(conn, txn int, addr string) string {
				if addr == "c@example.net" {
					return refusal
				}
				return ""
			}
			d := stepDeliverer(t, s)
			m := message("a@example.net", "c@example.net", "b@example.net")
			res := d.Deliver(context.Background(), m, body, all(m))
			if len(res) != 3 {
				t.Fatalf("results %+v, want one per recipient", res)
			}
			for _, r := range res {
				addr := m.Rcpts[r.Rcpt].Addr
				if addr == "c@example.net" {
					if r.Outcome != queue.Deferred || !queue.IsOutOfStep(r.Reply, r.NextHop) || !strings.HasSuffix(r.Reply, ": "+refusal) {
						t.Errorf("%s: %v %q, want a deferral out of step at RCPT quoting %q", addr, r.Outcome, r.Reply, refusal)
					}
					continue
				}
				if r.Outcome != queue.RelayedOK || strings.Contains(r.Reply, "503") {
					t.Errorf("%s, accepted: %v %q, want it relayed with the reply to its data", addr, r.Outcome, r.Reply)
				}
			}
			s.mu.Lock()
			taken, conns := s.taken, s.conns
			s.mu.Unlock()
			if taken["a@example.net"] != 1 || taken["b@example.net"] != 1 || taken["c@example.net"] != 0 || conns != 1 {
				t.Errorf("taken %v over %d connections; want a and b once each, on the one session", taken, conns)
			}
			m2 := message("d@example.net")
			d.Deliver(context.Background(), m2, body, all(m2))
			if conns, _ := s.counts(); conns != 2 {
				t.Errorf("%d connections after the next message, want 2: the session answered out of step was kept", conns)
			}
		})
	}
}
