package delivery

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"umbra/internal/config"
	"umbra/internal/queue"
	"umbra/internal/resolver"
	"umbra/internal/resolver/dnstest"
)

// A connection to an address given by name (a topology server, an LMTP
// server) finds its addresses through the deliverer's resolver — the
// server's one resolver — never the system's; a name DNS cannot answer
// for defers.
func TestNamedAddressesUseTheResolver(t *testing.T) {
	s := startSink(t, "127.0.0.1:0", true, nil)
	_, port, _ := net.SplitHostPort(s.addr)
	srv := dnstest.Start(t, "lmtp.mbx.test. 60 IN A 127.0.0.1")
	srv.Drop("slow.test")
	res, err := resolver.New(resolver.Config{Servers: []string{srv.Addr}, Timeout: 300 * time.Millisecond, Attempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	d := newDeliverer(t, res, config.Mailbox{LMTP: "lmtp.mbx.test:" + port})
	m := message("ok@example.test")
	if got := d.Deliver(context.Background(), m, body, all(m)); got[0].Outcome != queue.DeliveredOK {
		t.Fatalf("LMTP by name: %+v", got)
	}
	if srv.Queries() == 0 {
		t.Fatal("the name was not asked of the resolver's server")
	}
	d = newDeliverer(t, res, config.Mailbox{LMTP: "lmtp.slow.test:" + port})
	got := d.Deliver(context.Background(), m, body, all(m))
	if got[0].Outcome != queue.Deferred || !strings.HasPrefix(got[0].Reply, "451 4.4.1") {
		t.Fatalf("unresolvable LMTP name: %+v", got)
	}
}
