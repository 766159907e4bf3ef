package delivery

import (
	"strings"
	"testing"
	"time"

	"umbra/internal/queue"
	"umbra/internal/resolver"
	"umbra/internal/resolver/dnstest"
)

// Q-3 (rropsrt43): the queue tells umbra's own words on a host it could
// not reach ("451 4.4.1 connect to HOP: …") from a relay's reply in the
// same words by the hop they name, which must be the next hop the
// result records. A real attempt to an MX host that refuses the
// connection: its delay notice says the host could not be reached, in
// words, with no Diagnostic-Code.
func TestQ3UnreachedHostNamesItsNextHop(t *testing.T) {
	dns := dnstest.Start(t, "down.test. 300 IN MX 10 mx1.down.test.", "mx1.down.test. 300 IN A 127.0.0.172")
	res, err := resolver.New(resolver.Config{Servers: []string{dns.Addr}, Timeout: 2 * time.Second, Attempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	w := newTLSWorldOnPort(t, res, 40391) // nothing listens there
	m := message("rc@down.test")
	r := w.deliver(m)
	if r.Outcome != queue.Deferred || !strings.HasPrefix(r.Reply, "451 4.4.1 connect to "+r.NextHop+": ") {
		t.Fatalf("%+v; want a 451 4.4.1 connect to its next hop", r)
	}
	m.Rcpts[0] = queue.Recipient{Addr: "rc@down.test", Notify: queue.NotifyDelay, Status: queue.Pending,
		Queue: r.Queue, NextHop: r.NextHop, LastReply: r.Reply}
	at := time.Now()
	m.Arrived = at.Add(-time.Hour)
	dsn := string(queue.BuildDSNBody("mx.test", m, queue.MemBody([]byte("Subject: x\r\n\r\nhi\r\n")), queue.NotifyDelay, []int{0}, at, at, 0xDEF, 0, queue.Inside{}))
	if !strings.Contains(dsn, "could not be reached (connection refused)") || strings.Contains(dsn, "Diagnostic-Code") {
		t.Errorf("the delay notice of an unreached host:\n%s", dsn)
	}
}
