package delivery

import (
	"context"
	"testing"
	"time"

	"umbra/internal/config"
	"umbra/internal/queue"
	"umbra/internal/shadow"
	"umbra/internal/testsupport"
)

// SR-16 (issue 20 item 2): a primary that did not answer a heartbeat is
// tried after the other hosts at once; delivery does not spend a command
// timeout on it first. A heartbeat it answers again clears the mark.
func TestFailedHeartbeatDeprioritisesHost(t *testing.T) {
	hung := testsupport.Silent(t, "127.0.0.1:0") // a SIGSTOPped primary: the kernel still completes the handshake
	good := startSink(t, "127.0.0.1:0", false, nil)
	sc := config.SendConnector{Name: "to-hubs", AddressSpaces: []config.AddressSpace{{Domain: "*", Cost: 1}},
		SmartHosts: []string{hung.Addr(), good.addr}, TLS: config.TLSNone}
	d := newDeliverer(t, &fakeDNS{}, config.Mailbox{}, sc)
	// A try of the hung host would cost this long: never spent.
	d.st.Load().cfg.CommandTimeout = time.Minute

	ctx, cancel := context.WithCancelCause(context.Background())
	go func() {
		for hung.Count() == 0 {
			time.Sleep(time.Millisecond)
		}
		cancel(shadow.ErrHeartbeatBound) // the heartbeat's bound, as the shadow manager's timer ends it (a plain cancel is this server's stop)
	}()
	if _, _, err := heartbeatIDs(d, ctx, "hub-a", hung.Addr()); err == nil {
		t.Fatal("a heartbeat to a hung primary succeeded")
	}
	for i := 0; i < 8; i++ { // smart hosts are shuffled: each order comes up
		m := message("x@anywhere.example")
		if res := d.Deliver(context.Background(), m, body, all(m)); res[0].Outcome != queue.RelayedOK {
			t.Fatalf("delivery %d: %+v", i, res)
		}
		d.mu.Lock()
		d.idle = map[string][]*pooled{} // a new connection each time
		d.mu.Unlock()
	}
	if n := hung.Count(); n != 1 {
		t.Fatalf("delivery tried the hung primary first after its failed heartbeat (%d connections)", n-1)
	}

	// The organisation's route: the same record orders a site's servers.
	names, addrs := orderOrg(d.health, []string{"hub-a", "hub-b"}, []string{hung.Addr(), good.addr})
	if names[0] != "hub-b" || addrs[1] != hung.Addr() {
		t.Fatalf("site order after a failed heartbeat: %v %v", names, addrs)
	}
	d.health.Responsive("hub-a", hung.Addr())
	if names, _ := orderOrg(d.health, []string{"hub-a", "hub-b"}, []string{hung.Addr(), good.addr}); names[0] != "hub-a" {
		t.Fatalf("a primary that answered again is still tried last: %v", names)
	}
}

// A server marked for a failed heartbeat whose copies all went (taken
// over and sent on: no heartbeat is sent to it any more) is probed once per dead
// destination cool-down in its normal place: when it answers, its mark
// goes and the route uses it again (rt35 F6: relays went to the route's
// other smart host for good). Until a probe is due it stays last.
func TestMarkedPrimaryProbedAgain(t *testing.T) {
	back := startSink(t, "127.0.0.1:0", false, nil)
	other := startSink(t, "127.0.0.1:0", false, nil)
	sc := config.SendConnector{Name: "to-hubs", AddressSpaces: []config.AddressSpace{{Domain: "*", Cost: 1}},
		SmartHosts: []string{back.addr, other.addr}, TLS: config.TLSNone}
	d := newDeliverer(t, &fakeDNS{}, config.Mailbox{}, sc)
	conns := func(s *sink) int { s.mu.Lock(); defer s.mu.Unlock(); return s.conns }
	deliver := func() {
		m := message("x@anywhere.example")
		if res := d.Deliver(context.Background(), m, body, all(m)); res[0].Outcome != queue.RelayedOK {
			t.Fatalf("delivery: %+v", res)
		}
		d.mu.Lock()
		d.idle = map[string][]*pooled{} // a new connection each time
		d.mu.Unlock()
	}
	d.health.SetProbeEvery(time.Hour)
	d.health.Unresponsive(time.Now(), "failed heartbeats before the takeover", "hub-a", back.addr)
	for i := 0; i < 8; i++ {
		deliver()
	}
	if n := conns(back); n != 0 {
		t.Fatalf("a marked server was tried before its probe was due (%d connections)", n)
	}
	d.health.SetProbeEvery(time.Nanosecond) // a probe due at every ordering
	for i := 0; i < 40 && d.health.Unhealthy("hub-a", back.addr); i++ {
		deliver()
	}
	if conns(back) == 0 || d.health.Unhealthy("hub-a", back.addr) {
		t.Fatalf("the marked server answering again was never probed (%d connections, marked %v)",
			conns(back), d.health.Unhealthy("hub-a", back.addr))
	}
}

// The sibling for a site's servers: one marked for copies (a full disk
// refused a copy or a relay: copiesKey, which only a message it takes
// clears) keeps its normal place once per probe interval, and a relay
// it takes clears the mark; until a probe is due it stays last.
func TestCopiesMarkedServerProbedInItsSite(t *testing.T) {
	h := queue.NewHealth()
	names, addrs := []string{"hub-a", "hub-b"}, []string{"127.0.0.1:1", "127.0.0.2:1"}
	h.SetProbeEvery(time.Hour)
	h.Unresponsive(time.Now(), "shadow copy refused: 452 4.3.1 disk full", copiesKey("hub-a"))
	for i := 0; i < 3; i++ {
		if got, _ := orderOrg(h, names, addrs); got[0] != "hub-b" {
			t.Fatalf("a server marked for copies was first before its probe was due: %v", got)
		}
	}
	h.SetProbeEvery(time.Nanosecond)
	if got, _ := orderOrg(h, names, addrs); got[0] != "hub-a" {
		t.Fatalf("a server marked for copies kept its last place when a probe was due: %v", got)
	}
	d := &Deliverer{health: h}
	d.relayStorage("hub-a", []queue.Result{{Outcome: queue.RelayedOK, Reply: "250 2.0.0 Ok"}})
	if h.Unhealthy(copiesKey("hub-a")) {
		t.Fatal("the relay the probed server took left its mark")
	}
}
