package delivery

import (
	"context"
	"net"
	"testing"
	"time"

	"umbra/internal/routing"
	"umbra/internal/testsupport"
)

// rcpt47IP is the loopback address of the rcpt47 tests (ports
// 9500-9999; package smtp's take 9000-9499).
const rcpt47IP = "127.0.0.187"

// rcpt47Rig is hubAReceiptRig with the connect and command timeouts
// given (hub-a at an address nothing needs to answer on).
func rcpt47Rig(t *testing.T, connect, command time.Duration, others ...routing.Server) (*Deliverer, *ReceiptShadow) {
	t.Helper()
	servers := append([]routing.Server{{Name: "hub-a", Role: routing.RoleHub, Site: "a", Address: "127.0.0.1:25"}}, others...)
	topo, err := routing.NewTopology(routing.TopologyInput{
		Sites:   []routing.Site{{Name: "a"}, {Name: "b"}},
		Links:   []routing.SiteLink{{Name: "a-b", Sites: []string{"a", "b"}, Cost: 1}},
		Servers: servers,
	})
	if err != nil {
		t.Fatal(err)
	}
	d, err := New(Config{Hostname: "hub-a.test", Routing: routing.NewTable(nil, nil), Resolver: &fakeDNS{},
		Topology: topo, LocalServer: "hub-a", ShadowServerID: "hub-a", ShadowRetriesRemote: 4, ShadowRetriesLocal: 0,
		ConnectTimeout: connect, CommandTimeout: command, DataTimeout: command})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	r := NewReceiptShadow(d, "db-a")
	t.Cleanup(r.Close)
	return d, r
}

// silentListener accepts connections at addr and never writes to them
// (a primary hung before its greeting); accepted reports each. The
// connections close when the test ends.
func silentListener(t *testing.T, addr string) (string, <-chan struct{}) {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	accepted := make(chan struct{}, 16)
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				for _, c := range conns {
					c.Close()
				}
				return
			}
			conns = append(conns, c)
			accepted <- struct{}{}
		}
	}()
	t.Cleanup(func() { ln.Close(); <-done })
	return ln.Addr().String(), accepted
}

// SR-16, SR-5 (rcpt47 item 3): a heartbeat cut by this server's own stop
// (its context cancelled) while the primary has not greeted yet — well
// within any bound — is no evidence about the primary: it is not marked
// unresponsive in destination health (deliveries would try other
// servers first, and queue destinations would show it failing, for this
// server's shutdown). A heartbeat that ran out of its bound (a deadline)
// is the primary's silence, and marks it as before.
func TestSR16HeartbeatCutByOwnStopMarksNoPrimary(t *testing.T) {
	addr, accepted := silentListener(t, testsupport.AddrInRange(t, rcpt47IP, 9500, 100))
	d, _ := rcpt47Rig(t, 5*time.Second, time.Hour, routing.Server{Name: "hub-b", Role: routing.RoleHub, Site: "b", Address: addr})
	save := func(string, uint64, []string, bool) error { return nil }

	ctx, stop := context.WithCancel(context.Background())
	go func() {
		select {
		case <-accepted: // the heartbeat waits for hub-b's greeting
		case <-time.After(10 * time.Second):
		}
		stop()
	}()
	if err := d.Heartbeat(ctx, "hub-b", addr, save); err == nil {
		t.Fatal("the heartbeat to a primary that never greets succeeded: the test proves nothing")
	}
	if d.health.Unhealthy("hub-b", addr) {
		t.Error("hub-b is marked unresponsive, though only this server's stop cut its heartbeat")
	}

	// Its bound run out: hub-b's silence.
	bctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := d.Heartbeat(bctx, "hub-b", addr, save); err == nil {
		t.Fatal("the heartbeat to a primary that never greets succeeded")
	}
	if !d.health.Unhealthy("hub-b", addr) {
		t.Error("hub-b silent past the heartbeat's bound is not marked unresponsive")
	}
}
