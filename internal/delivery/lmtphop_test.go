package delivery

import (
	"context"
	"testing"

	"umbra/internal/config"
	"umbra/internal/queue"
)

// Q-3 (message show, tracking; rt38 F3): a recipient delivered or
// deferred over LMTP names the LMTP server it was at, as a relay names
// its host: next hop "lmtp:" and the address of mailbox.lmtp — not the
// bare word "lmtp", which left the operator unable to tell which server
// took a recipient after a reload moved mailbox.lmtp. Real LMTP over
// loopback, and an address nobody listens at.
func TestLMTPNextHopNamesTheServer(t *testing.T) {
	const up, down = "127.0.0.125:9521", "127.0.0.125:9522"
	startSink(t, up, true, nil)
	for _, c := range []struct {
		addr string
		want queue.Outcome
	}{{up, queue.DeliveredOK}, {down, queue.Deferred}} {
		d := newDeliverer(t, &fakeDNS{}, config.Mailbox{LMTP: c.addr})
		m := message("bob@example.test")
		for _, r := range d.Deliver(context.Background(), m, []byte("Subject: s\r\n\r\nhello\r\n"), all(m)) {
			if r.Outcome != c.want {
				t.Fatalf("%s: %+v", c.addr, r)
			}
			if want := "lmtp:" + c.addr; r.NextHop != want {
				t.Errorf("%s: next hop %q, want %q", c.addr, r.NextHop, want)
			}
		}
	}
}
