package delivery

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// SPEC Q-3 (rr deliv45): the stall's since is the host's last reply —
// its 354 to DATA too. A next hop that takes its time to answer DATA,
// answers 354, takes the body and then never answers the final dot has
// been silent since its 354, not since before it: `message show`'s
// "no reply since T" and a delay notice's "no reply for N s" count from
// the 354. Before, the 354 moved nothing: the host was shown stalled
// since the replies to its envelope, the 30 s it took to answer DATA
// counted as silence after it had answered. Lock-step and pipelined.
func TestQ3StallSinceMovesWithTheGoAheadToData(t *testing.T) {
	for k, pipelining := range []bool{false, true} {
		t.Run(fmt.Sprintf("pipelining=%v", pipelining), func(t *testing.T) {
			port := 37471 + 2*k
			hop := startFaultHopAt(t, fmt.Sprintf("127.0.0.160:%d", port), false)
			hop.mu.Lock() // read by its sessions under the lock
			hop.pipelining = pipelining
			hop.dataGate = make(chan struct{})
			hop.mu.Unlock()
			r := startFaultRigOn(t, "127.0.0.160", fmt.Sprintf("127.0.0.160:%d", port+1), hop, 0, 60*time.Second, 60*time.Second, time.Hour)
			id := r.submit(t, "dhang@remote.test")
			waitHop(t, r, "the DATA", func(h *faultHop) bool { return h.dataGated == 1 })
			r.clk.Advance(30 * time.Second) // the host takes 30 s to answer DATA
			goAhead := r.clk.Now()
			hop.dataGate <- struct{}{}
			waitHop(t, r, "the final dot unanswered", func(h *faultHop) bool { return h.dotsHung == 1 })
			r.clk.Advance(40 * time.Second)
			m, err := r.q.Message(id)
			if err != nil {
				t.Fatal(err)
			}
			w := r.q.StateView().WaitingOn(m, 0)
			if w == nil || w.Step != "the message data" || !w.Since.Equal(goAhead) {
				t.Fatalf("waits on %+v, want the message data since the 354 at %s", w, goAhead)
			}
			if txt := w.Text(r.clk.Now()); !strings.Contains(txt, "no reply since 2026-01-01T00:00:30Z (40s)") {
				t.Errorf("the wait told as %q, want no reply since the 354 (40s)", txt)
			}
		})
	}
}
