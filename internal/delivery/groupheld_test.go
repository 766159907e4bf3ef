package delivery

import (
	"context"
	"net"
	"testing"

	"umbra/internal/config"
	"umbra/internal/queue"
)

// a job of several groups whose later group is in a suspended
// queue — held — while an earlier group already runs on a goroutine of
// its own: every recipient gets its result, the held one Held in its
// queue. The held group's results were appended to the job's results
// without the lock the running groups append under (a data race the
// race detector reports, and a result that could be lost).
func TestQ4HeldGroupBesideARunningGroupKeepsEveryResult(t *testing.T) {
	dns := &fakeDNS{fail: map[string]error{"example.net": &net.DNSError{Err: "server misbehaving", Name: "example.net", IsTemporary: true}}}
	d := newDeliverer(t, dns, config.Mailbox{}, mxConnector("37421")) // never dialed: the lookup fails first
	d.st.Load().cfg.Suspended = func(q string) bool { return q == "mx:example.com" }
	for range 20 { // the running group's append against the held one's, each run
		m := message("a@example.net", "b@example.com")
		got := byRcpt(m, d.Deliver(context.Background(), m, body, all(m)))
		if len(got) != 2 {
			t.Fatalf("results for %d recipients, want 2: %+v", len(got), got)
		}
		if r := got["a@example.net"]; r.Outcome != queue.Deferred {
			t.Fatalf("a@example.net (its MX lookup failed): %+v", r)
		}
		if r := got["b@example.com"]; r.Outcome != queue.Held || r.Queue != "mx:example.com" {
			t.Fatalf("b@example.com (its queue suspended): %+v", r)
		}
	}
}
