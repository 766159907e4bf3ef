package delivery

import (
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"umbra/internal/config"
	"umbra/internal/queue"
	"umbra/internal/routing"
	"umbra/internal/testsupport"
)

// SPEC: a panic in the goroutine that cuts a transaction at
// its message's expiry (a defect of umbra's) is recovered, counted
// under part delivery and logged — the daemon serves on — and the
// transaction ends as its session does: the check before DATA still
// finds the expiry, so the message is not sent and its recipient fails
// as expired, with the failure DSN. Seen to fail first: the test binary
// died of the panic.
func TestPanicInTheExpiryCutIsRecovered(t *testing.T) {
	s := &tarpitRcpt{inRcpt: make(chan struct{}, 1), release: make(chan struct{})}
	ln := testsupport.Listen(t, "127.0.0.132:0")
	addr := ln.Addr().String()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go s.serveLockstep(c)
		}
	}()
	t.Cleanup(func() { ln.Close() })
	var fired atomic.Bool
	hook := func(part string) {
		if part == PanicDelivery && fired.CompareAndSwap(false, true) {
			panic("injected panic of the expiry's cut")
		}
	}
	panicHook.Store(&hook)
	defer panicHook.Store(nil)
	var open sync.Once
	release := func() { open.Do(func() { close(s.release) }) }
	defer release()
	dns := &fakeDNS{mx: map[string][]*net.MX{"slow.test": {{Host: "mx.slow.test.", Pref: 10}},
		"example.org": {{Host: "mx.slow.test.", Pref: 10}}},
		hosts: map[string][]string{"mx.slow.test": {"127.0.0.132"}}}
	conn := mxConnector(portOf(addr))
	conn.TLS = config.TLSNone
	table := routing.NewTable(nil, []routing.Connector{{Name: conn.Name, Enabled: true,
		AddressSpaces: []routing.AddressSpace{{Domain: "*", Cost: 1}}}})
	d, err := New(Config{Hostname: "umbra.test", Routing: table, SendConnectors: []config.SendConnector{conn}, Resolver: dns,
		ConnectTimeout: 2 * time.Second, CommandTimeout: time.Minute, DataTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	pc := &panicCount{}
	d.SetPanics(pc)
	r := startExpiryRig(t, d)
	q, ctx, clk, ev, t0 := r.q, r.ctx, r.clk, r.ev, r.t0
	defer func() {
		release()
		r.stop()
	}()
	m := &queue.Message{ID: q.NewID(), From: "sender@example.org", Arrived: t0, Rcpts: []queue.Recipient{{Addr: "p@slow.test"}}}
	if err := q.Submit(ctx, m, body); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second) // a bound on the test, not a timing assertion
	wait := func(what string, cond func() bool) {
		t.Helper()
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s: %q", what, ev.events)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	wait("the first deferral", func() bool { return ev.has("defer 451 4.3.0") })
	for { // the second attempt, before the expiry: its RCPT is held
		clk.Advance(time.Second)
		select {
		case <-s.inRcpt:
		case <-time.After(20 * time.Millisecond):
			if time.Now().After(deadline) {
				t.Fatal("no second attempt")
			}
			continue
		}
		break
	}
	clk.Advance(30 * time.Second) // past the expiry: the cut's goroutine panics
	wait("the panic counted", func() bool { return pc.count(PanicDelivery) == 1 })
	release() // the next hop accepts the recipient
	wait("the recipient failed as expired", func() bool { return ev.has("fail 550 5.4.7") })
	wait("the failure DSN", func() bool { return s.sentTo("sender@example.org") > 0 })
	if n := s.sentTo("p@slow.test"); n != 0 {
		t.Fatalf("the message was delivered %d times after its expiry", n)
	}
}
