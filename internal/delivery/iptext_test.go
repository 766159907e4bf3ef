package delivery

import (
	"context"
	"net"
	"strings"
	"sync/atomic"
	"testing"

	"umbra/internal/config"
	"umbra/internal/queue"
)

// countingDNS is fakeDNS counting the questions asked.
type countingDNS struct {
	fakeDNS
	asked atomic.Int32
}

func (c *countingDNS) LookupMX(ctx context.Context, name string) ([]*net.MX, error) {
	c.asked.Add(1)
	return c.fakeDNS.LookupMX(ctx, name)
}

func (c *countingDNS) LookupHost(ctx context.Context, host string) ([]string, error) {
	c.asked.Add(1)
	return c.fakeDNS.LookupHost(ctx, host)
}

// A destination domain that is IP-address text without brackets (a
// sender's, for its DSN: RCPT refuses it) is no domain: it fails with
// 550 5.1.2 as an address literal does, with no DNS question and no
// connection — looked up as a host name, "127.0.0.2" is that address,
// which no routing or literal policy allowed. Through a smart host too.
func TestIPTextDomainNeverResolved(t *testing.T) {
	s := startSink(t, "127.0.0.2:0", false, nil)
	port := portOf(s.addr)
	dns := &countingDNS{fakeDNS: fakeDNS{
		hosts: map[string][]string{"127.0.0.2": {"127.0.0.2"}, "127.2": {"127.0.0.2"}},
	}}
	d := newDeliverer(t, dns, config.Mailbox{}, mxConnector(port))
	for _, rcpt := range []string{"a@127.0.0.2", "a@127.0.0.2.", "a@127.2", "a@2130706434", "a@::ffff:127.0.0.2"} {
		dns.asked.Store(0)
		m := message(rcpt)
		res := d.Deliver(context.Background(), m, body, all(m))
		if len(res) != 1 || res[0].Outcome != queue.FailedPerm || !strings.HasPrefix(res[0].Reply, "550 5.1.2") {
			t.Errorf("%s: %+v, want 550 5.1.2 at once", rcpt, res)
		}
		if n := dns.asked.Load(); n != 0 {
			t.Errorf("%s: %d DNS questions asked", rcpt, n)
		}
	}
	if got := s.received(); len(got) != 0 {
		t.Fatalf("the address an IP-text domain spells got %d messages", len(got))
	}

	smart := d2smart(t, dns, s.addr)
	m := message("a@127.0.0.2")
	res := smart.Deliver(context.Background(), m, body, all(m))
	if len(res) != 1 || res[0].Outcome != queue.FailedPerm || !strings.HasPrefix(res[0].Reply, "550 5.1.2") {
		t.Errorf("through a smart host: %+v, want 550 5.1.2 at once", res)
	}
	if got := s.received(); len(got) != 0 {
		t.Fatalf("the smart host got %d messages for an IP-text domain", len(got))
	}
}

func d2smart(t *testing.T, dns Resolver, addr string) *Deliverer {
	sc := config.SendConnector{Name: "out", AddressSpaces: []config.AddressSpace{{Domain: "*", Cost: 1}},
		SmartHosts: []string{addr}, TLS: config.TLSNone}
	return newDeliverer(t, dns, config.Mailbox{}, sc)
}
