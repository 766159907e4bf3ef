package milter

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"umbra/internal/config"
	"umbra/internal/routing"
	"umbra/internal/smtp"
	"umbra/internal/testsupport"
)

// freeAddr121 is a free TCP address on 127.0.0.121 with a port in first …
// first+n-1.
func freeAddr121(t *testing.T, first, n int) string {
	t.Helper()
	return testsupport.AddrInRange(t, "127.0.0.121", first, n)
}

// avail40 (SR-17, W-2): a milter that is down, on_failure tempfail, on a
// connector the organisation's transport servers use (externally
// secured: every session there is a server's). The greeting of a
// server's session passes — its shadow session (heartbeats, discard
// notifications, copies on receipt, none of which the milter judges)
// goes on while the milter is down —, and its MAIL still gets
// on_failure's 451 4.7.1: mail it sends to be delivered here is never
// let through unchecked. Refused at EHLO, the server's copies went
// nowhere and its heartbeats failed while the milter was down. A
// client that is no server is refused at its greeting as before
// (TestMilterFailurePolicy).
func TestMilterDownServerGreetingPasses(t *testing.T) {
	down := "inet:" + freeAddr121(t, 7400, 50) // nothing listens there
	cfg, err := config.Parse([]byte(fmt.Sprintf(`server: {name: mx.test}
receive_connectors:
  - name: org
    bindings: [%q]
    remote_ranges: ["127.0.0.0/8"]
    externally_secured: true
    permissions: {anonymous: [submit], servers: [submit, relay, accept-xshadow]}
    milters:
%s`, freeAddr121(t, 7450, 50), milterConf(down, ""))), "test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	build := func(rc config.ReceiveConnector) ([]smtp.Check, error) {
		c, err := New(rc.Milters[0], "mx.test", nil, NewMetrics(nil))
		if err != nil {
			return nil, err
		}
		return []smtp.Check{c}, nil
	}
	table := routing.NewTable([]routing.AcceptedDomain{{Domain: "example.test", Type: routing.Authoritative}}, nil)
	q := &fakeQueue{}
	s, err := smtp.NewServer(smtp.ServerConfig{Hostname: "mx.test", Connectors: cfg.ReceiveConnectors, Routing: table, Queue: q, Checks: build})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	s.Serve()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Shutdown(ctx)
	})
	d := dial(t, s)
	d.cmd("EHLO hub2.test", "250")
	d.cmd("EHLO hub2.test", "250") // again (as after STARTTLS): the HELO stage alike
	d.cmd("MAIL FROM:<a@sender.test>", "451 4.7.1")
	d.cmd("MAIL FROM:<a@sender.test>", "451 4.7.1") // the rest of the session too
	if q.count() != 0 {
		t.Fatalf("queued %d with the milter down", q.count())
	}
}

// serverAt is a topology giving one address to a transport server.
type serverAt netip.Addr

func (a serverAt) ServerAt(string, netip.Addr) (bool, bool) { return false, false }
func (a serverAt) IsServerAddress(ip netip.Addr) bool       { return ip == netip.Addr(a) }
func (a serverAt) Transport(string) bool                    { return true }
func (a serverAt) IsTransportAddress(ip netip.Addr) bool    { return ip == netip.Addr(a) }

// rravail40 (EDGE, W-2): on a connector that is not externally secured,
// a client at an address the topology gives to a server proves nothing
// before its AUTH: the greeting the down milter lets pass for that AUTH
// (TestMilterDownServerGreetingPasses) lets nothing else pass — its MAIL
// gets on_failure's 451 4.7.1, and
// nothing is queued.
func TestMilterDownServerAddressNonServerMailRefused(t *testing.T) {
	down := "inet:" + freeAddr212(t, 15100, 50)
	cfg, err := config.Parse([]byte(fmt.Sprintf(`server: {name: mx.test}
receive_connectors:
  - name: internet
    bindings: [%q]
    permissions: {anonymous: [submit]}
    milters:
%s`, freeAddr212(t, 15150, 50), milterConf(down, ""))), "test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	build := func(rc config.ReceiveConnector) ([]smtp.Check, error) {
		c, err := New(rc.Milters[0], "mx.test", nil, NewMetrics(nil))
		if err != nil {
			return nil, err
		}
		return []smtp.Check{c}, nil
	}
	table := routing.NewTable([]routing.AcceptedDomain{{Domain: "example.test", Type: routing.Authoritative}}, nil)
	q := &fakeQueue{}
	s, err := smtp.NewServer(smtp.ServerConfig{Hostname: "mx.test", Connectors: cfg.ReceiveConnectors, Routing: table, Queue: q, Checks: build})
	if err != nil {
		t.Fatal(err)
	}
	s.SetServers(serverAt(netip.MustParseAddr("127.0.0.212")))
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	s.Serve()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Shutdown(ctx)
	})
	c, err := (&net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.212")}}).Dial("tcp", s.Addrs()[0].String())
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(30 * time.Second))
	t.Cleanup(func() { c.Close() })
	d := &dialog{t: t, conn: c, r: bufio.NewReader(c)}
	d.expect("220")
	d.cmd("EHLO hub2.test", "250") // passed: a server may be behind the address
	d.cmd("MAIL FROM:<a@sender.test>", "451 4.7.1")
	d.cmd("MAIL FROM:<b@sender.test>", "451 4.7.1") // every MAIL of the session
	// A client at an address no server has is refused at its greeting
	// as before.
	s.SetServers(nil)
	c2, err := (&net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.212")}}).Dial("tcp", s.Addrs()[0].String())
	if err != nil {
		t.Fatal(err)
	}
	c2.SetDeadline(time.Now().Add(30 * time.Second))
	t.Cleanup(func() { c2.Close() })
	d2 := &dialog{t: t, conn: c2, r: bufio.NewReader(c2)}
	d2.expect("220")
	d2.cmd("EHLO client.test", "451 4.7.1")
	if q.count() != 0 {
		t.Fatalf("queued %d with the milter down", q.count())
	}
}

// freeAddr212 is freeAddr121 on 127.0.0.212.
func freeAddr212(t *testing.T, first, n int) string {
	t.Helper()
	return testsupport.AddrInRange(t, "127.0.0.212", first, n)
}
