package delivery

import (
	"context"
	"log/slog"
	"net"
	"strings"
	"testing"

	"umbra/internal/config"

	"umbra/internal/queue"
)

// An MX record must name a host (RFC 5321 §5.1: the exchange is a
// domain name, looked up for its addresses; RFC 1035 §3.3.9). One whose
// exchange is IP-address text ("10 127.0.0.2.") names none: it is
// skipped with a log line naming it, never connected to — a resolver
// would hand that name back as the address it spells, which no policy
// allowed. With no other host the recipients fail 550 5.4.4 naming it
// (the domain's own misconfiguration, as an MX host without an address
// is); with another host the message goes there.
func TestNumericMXExchangeSkipped(t *testing.T) {
	s := startSink(t, "127.0.0.2:0", false, nil)
	port := portOf(s.addr)
	good := startSink(t, "127.0.0.3:"+port, false, nil) // the connector's one port
	dns := &fakeDNS{
		mx: map[string][]*net.MX{
			"numeric.test": {{Host: "127.0.0.2.", Pref: 10}},
			"mixed.test":   {{Host: "127.0.0.2.", Pref: 5}, {Host: "mx.mixed.test.", Pref: 10}},
			"v6.test":      {{Host: "::1", Pref: 10}},
		},
		// A resolver answers IP-address text with the address it spells.
		hosts: map[string][]string{"127.0.0.2": {"127.0.0.2"}, "::1": {"::1"}, "mx.mixed.test": {"127.0.0.3"}},
	}
	var logs logBuffer
	d := newDeliverer(t, dns, config.Mailbox{}, mxConnector(port))
	d.log = slog.New(slog.NewTextHandler(&logs, nil))
	for _, dom := range []string{"numeric.test", "v6.test"} {
		m := message("a@" + dom)
		res := d.Deliver(context.Background(), m, body, all(m))
		if len(res) != 1 || res[0].Outcome != queue.FailedPerm || !strings.HasPrefix(res[0].Reply, "550 5.4.4 ") ||
			!strings.Contains(res[0].Reply, "IP address") {
			t.Errorf("%s: %+v, want 550 5.4.4 naming the MX record that names an IP address", dom, res)
		}
	}
	if got := s.received(); len(got) != 0 {
		t.Fatalf("the address a numeric MX exchange spells got %d messages", len(got))
	}
	if !strings.Contains(logs.String(), "127.0.0.2") || !strings.Contains(logs.String(), "numeric.test") {
		t.Errorf("no log line naming the numeric MX exchange:\n%s", logs.String())
	}

	// Another host of the domain takes it; the numeric one is passed
	// over though it is the better preference.
	m := message("a@mixed.test")
	if res := d.Deliver(context.Background(), m, body, all(m)); len(res) != 1 || res[0].Outcome != queue.RelayedOK {
		t.Errorf("mixed.test: %+v, want relayed by its named host", res)
	}
	if len(good.received()) != 1 || len(s.received()) != 0 {
		t.Errorf("named host got %d, the numeric exchange's address %d; want 1 and 0", len(good.received()), len(s.received()))
	}
}
