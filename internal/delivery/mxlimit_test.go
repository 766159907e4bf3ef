package delivery

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"testing"

	"umbra/internal/config"
	"umbra/internal/queue"
)

// busyHosts listens on 127.0.0.<first>… <first+n-1> at one port; each
// connection is counted and answered "421 4.3.2 busy" and closed.
func busyHosts(t *testing.T, first, n int) (port string, conns *atomic.Int32) {
	t.Helper()
	conns = new(atomic.Int32)
	for i := 0; i < n; i++ {
		addr := fmt.Sprintf("127.0.0.%d:%s", first+i, port)
		if port == "" {
			addr = fmt.Sprintf("127.0.0.%d:0", first)
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		port = portOf(ln.Addr().String())
		t.Cleanup(func() { ln.Close() })
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				conns.Add(1)
				c.Write([]byte("421 4.3.2 busy\r\n"))
				c.Close()
			}
		}()
	}
	return port, conns
}

// manyMX is a domain with n MX hosts m0… at 127.0.0.<first+i>, of
// preference 10·(i+1).
func manyMX(domain string, first, n int) *fakeDNS {
	dns := &fakeDNS{mx: map[string][]*net.MX{}, hosts: map[string][]string{}}
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("m%d.%s", i, domain)
		dns.mx[domain] = append(dns.mx[domain], &net.MX{Host: name + ".", Pref: uint16(10 * (i + 1))})
		dns.hosts[name] = []string{fmt.Sprintf("127.0.0.%d", first+i)}
	}
	return dns
}

// One attempt connects to at most mx_address_limit addresses and talks
// to at most mx_session_limit hosts that answer, in preference order;
// the message is deferred naming the limit, and 0 means no bound.
func TestMXLimitsBoundOneAttempt(t *testing.T) {
	const n = 12
	port, conns := busyHosts(t, 100, n)
	for _, tc := range []struct {
		name             string
		addrLim, sessLim int
		want             int32
		cut              string
	}{
		{"defaults", config.DefaultMXAddressLimit, config.DefaultMXSessionLimit, 2, "mx_session_limit 2 reached: 10 more hosts not tried in this attempt"},
		{"address limit only", 5, 0, 5, "mx_address_limit 5 reached: 7 more hosts not tried in this attempt"},
		{"no bound", 0, 0, n, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conns.Store(0)
			sc := mxConnector(port)
			sc.MXAddressLimit, sc.MXSessionLimit = tc.addrLim, tc.sessLim
			d := newDeliverer(t, manyMX("many.example", 100, n), config.Mailbox{}, sc)
			m := message("x@many.example")
			res := d.Deliver(context.Background(), m, body, all(m))
			if len(res) != 1 || res[0].Outcome != queue.Deferred || !strings.HasPrefix(res[0].Reply, "451 4.4.2 greeting from") {
				t.Fatalf("results %+v", res)
			}
			if got := conns.Load(); got != tc.want {
				t.Errorf("%d connections in one attempt, want %d", got, tc.want)
			}
			if tc.cut != "" && !strings.Contains(res[0].Reply, tc.cut) {
				t.Errorf("reply %q does not name the limit (%q)", res[0].Reply, tc.cut)
			}
		})
	}
}

// Hosts that never answer (nothing listens: refused) count against
// mx_address_limit, not mx_session_limit: a backup MX within the first
// addresses in preference order is reached; one beyond them waits, and
// the next attempt starts again from the best host, so a primary that
// comes back takes the message.
func TestMXLimitKeepsPreferenceOrder(t *testing.T) {
	s := startSink(t, "127.0.0.124:0", false, nil)
	port := portOf(s.addr)
	sc := mxConnector(port)
	sc.MXAddressLimit, sc.MXSessionLimit = config.DefaultMXAddressLimit, config.DefaultMXSessionLimit

	// Four silent hosts (127.0.0.120–123), then the backup at .124.
	d := newDeliverer(t, manyMX("backup.example", 120, 5), config.Mailbox{}, sc)
	m := message("x@backup.example")
	if res := d.Deliver(context.Background(), m, body, all(m)); len(res) != 1 || res[0].Outcome != queue.RelayedOK {
		t.Fatalf("the backup MX within the address limit: %+v", res)
	}

	// Five silent hosts (127.0.0.119–123), the backup sixth: not reached
	// in this attempt.
	d = newDeliverer(t, manyMX("far.example", 119, 6), config.Mailbox{}, sc)
	m = message("x@far.example")
	res := d.Deliver(context.Background(), m, body, all(m))
	if len(res) != 1 || res[0].Outcome != queue.Deferred || !strings.Contains(res[0].Reply, "mx_address_limit 5 reached: 1 more") {
		t.Fatalf("the backup MX beyond the address limit: %+v", res)
	}
	if len(s.received()) != 1 {
		t.Fatalf("the backup beyond the limit got the message")
	}

	// The best host comes back: the next attempt starts from it.
	back := startSink(t, "127.0.0.119:"+port, false, nil)
	if res := d.Deliver(context.Background(), m, body, all(m)); len(res) != 1 || res[0].Outcome != queue.RelayedOK ||
		!strings.Contains(res[0].NextHop, "127.0.0.119") {
		t.Fatalf("the next attempt: %+v", res)
	}
	if len(back.received()) != 1 {
		t.Fatalf("the primary that came back did not get the message")
	}
}

// Smart hosts are the operator's: no limit applies to them.
func TestMXLimitSparesSmartHosts(t *testing.T) {
	port, conns := busyHosts(t, 130, 4)
	sc := config.SendConnector{Name: "smart", AddressSpaces: []config.AddressSpace{{Domain: "*", Cost: 1}},
		MXAddressLimit: 1, MXSessionLimit: 1}
	for i := 0; i < 4; i++ {
		sc.SmartHosts = append(sc.SmartHosts, fmt.Sprintf("127.0.0.%d:%s", 130+i, port))
	}
	d := newDeliverer(t, &fakeDNS{}, config.Mailbox{}, sc)
	m := message("x@outside.example")
	if res := d.Deliver(context.Background(), m, body, all(m)); len(res) != 1 || res[0].Outcome != queue.Deferred {
		t.Fatalf("results %+v", res)
	}
	if got := conns.Load(); got != 4 {
		t.Errorf("%d smart hosts tried, want all 4", got)
	}
}
