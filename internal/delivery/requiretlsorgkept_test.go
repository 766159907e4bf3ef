package delivery

import (
	"context"
	"crypto/tls"
	"net"
	"strings"
	"testing"

	"umbra/internal/orgid"
	"umbra/internal/queue"
)

// A REQUIRETLS message relayed inside the organisation that an earlier
// attempt could not give to the hub over verified TLS (451 4.7.5
// REQUIRETLS: …) keeps that form when the hub now refuses the
// connection, as an MX host's does (requireTLSDefer): at expiry the
// recipient fails 550 5.7.10, not 5.4.7. A message without the flag
// gets the plain connect failure.
func TestRequireTLSRelayKeptEarlierKeepsTheForm(t *testing.T) {
	d := hubAToHubB(t, closedAddr(t, "127.0.0.8"), &tls.Config{RootCAs: newTestCA(t).pool})
	for _, requireTLS := range []bool{true, false} {
		m := message("r@remote.example")
		m.RequireTLS, m.OrgID = requireTLS, orgid.New()
		m.Rcpts[0].LastReply = "451 4.7.5 REQUIRETLS: no verified TLS to hub-b[127.0.0.8:25]: certificate not trusted"
		res := d.Deliver(context.Background(), m, body, all(m))
		if len(res) != 1 || res[0].Outcome != queue.Deferred || !strings.Contains(res[0].Reply, "connect to") {
			t.Fatalf("REQUIRETLS %v: %+v", requireTLS, res)
		}
		if got := strings.HasPrefix(res[0].Reply, "451 4.4.1 REQUIRETLS: "); got != requireTLS {
			t.Errorf("REQUIRETLS %v: reply %q", requireTLS, res[0].Reply)
		}
	}
}

// closedAddr is an address on ip where nothing listens (a port just
// freed): a connection to it is refused.
func closedAddr(t *testing.T, ip string) string {
	t.Helper()
	l, err := net.Listen("tcp", ip+":0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}
