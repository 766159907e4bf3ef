package delivery

import (
	"strings"
	"testing"
	"time"
)

// SPEC Q-3: the operator's views of a message whose attempt is stalled
// (its next hop took the data and does not answer the final dot) say
// what the attempt waits on: the recipient's WaitingOn and the message's
// OldestWait (message show, the admin API) name the host, the step in a
// delay notice's words and since when, and its queue's listing (queue
// list) the longest wait and how many messages wait so. Read while the
// attempt runs (the race packages run this under -race).
func TestQ3StateViewShowsRunningStall(t *testing.T) {
	hop := startFaultHopAt(t, "127.0.0.170:9895", false)
	r := startFaultRigOn(t, "127.0.0.170", "127.0.0.170:9896", hop, 0, 60*time.Second, 60*time.Second, time.Hour)
	id := r.submit(t, "dhang@remote.test", "other@remote.test")
	deadline := time.Now().Add(20 * time.Second) // a bound on the test, not a timing assertion
	for {
		hop.mu.Lock()
		hung := hop.dotsHung
		hop.mu.Unlock()
		if hung == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the transaction never reached its stall: %q", r.ev.events)
		}
		time.Sleep(5 * time.Millisecond)
	}
	r.clk.Advance(40 * time.Second)
	m, err := r.q.Message(id)
	if err != nil {
		t.Fatal(err)
	}
	sv := r.q.StateView()
	for i := range m.Rcpts {
		w := sv.WaitingOn(m, i)
		if w == nil || !strings.Contains(w.Host, hop.port()) || w.Step != "the message data" || !w.Since.Equal(r.t0) {
			t.Errorf("%s waits on %+v, want the hop %s, the message data, since %s", m.Rcpts[i].Addr, w, hop.port(), r.t0)
			continue
		}
		if txt := w.Text(r.clk.Now()); !strings.Contains(txt, ", during the message data, no reply since 2026-01-01T00:00:00Z (40s)") {
			t.Errorf("the wait told as %q", txt)
		}
	}
	if w := sv.OldestWait(m); w == nil || w.Step != "the message data" {
		t.Errorf("the message's oldest wait: %+v", w)
	}
	qs, err := r.q.Queues()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, q := range qs {
		if q.WaitingOn != nil {
			found = true
			if q.WaitingOnHost != 1 || q.WaitingOn.Step != "the message data" || !strings.HasPrefix(q.Name, "smarthost:") {
				t.Errorf("queue %s: %d waiting, %+v; want 1 message waiting on the hop in the message data", q.Name, q.WaitingOnHost, q.WaitingOn)
			}
		}
	}
	if !found {
		t.Errorf("no queue shows the stalled attempt: %+v", qs)
	}
}
