package delivery

import (
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"
	"umbra/internal/config"
	"umbra/internal/queue"
	"umbra/internal/routing"
	"umbra/internal/testsupport"
)

// Q-3 (rr25 sched24b F2): README "an attempt running at the expiry (a retry …)
// sends nothing more of the message: a session waiting on the next
// hop's replies … is closed at the expiry", queue doc.go "a session not
// yet at the body is closed … bounded by the expiry in a retry". A
// retry whose next hop tarpits its greeting (accepts TCP, never sends
// 220) is not cut: the expiry DSN for both recipients waits for
// command_timeout.
func TestExpiryCutsGreetingTarpit(t *testing.T) {
	s := &tarpitRcpt{inRcpt: make(chan struct{}, 1), release: make(chan struct{})}
	srv := gosmtp.NewServer(gosmtp.BackendFunc(func(*gosmtp.Conn) (gosmtp.Session, error) { return &tarpitSession{s: s}, nil }))
	srv.Domain, srv.ErrorLog = "slow.test", nopLog{}
	other := testsupport.Listen(t, "127.0.0.185:0")
	go srv.Serve(other)
	t.Cleanup(func() { srv.Close() })
	// The tarpit: accepts, never greets.
	pit := testsupport.Listen(t, "127.0.0.185:0")
	greeted := make(chan struct{}, 1)
	var held []net.Conn
	var hmu sync.Mutex
	go func() {
		for {
			c, err := pit.Accept()
			if err != nil {
				return
			}
			hmu.Lock()
			held = append(held, c)
			hmu.Unlock()
			select {
			case greeted <- struct{}{}:
			default:
			}
		}
	}()
	t.Cleanup(func() {
		pit.Close()
		hmu.Lock()
		for _, c := range held {
			c.Close()
		}
		hmu.Unlock()
	})
	dns := &fakeDNS{mx: map[string][]*net.MX{"slow.test": {{Host: "mx.slow.test.", Pref: 10}},
		"defer.test": {{Host: "mx.defer.test.", Pref: 10}}, "example.org": {{Host: "mx.example.org.", Pref: 10}}},
		hosts: map[string][]string{"mx.slow.test": {"127.0.0.185"}, "mx.defer.test": {"127.0.0.185"}, "mx.example.org": {"127.0.0.185"}}}
	slow, oth := mxConnector(portOf(pit.Addr().String())), mxConnector(portOf(other.Addr().String()))
	slow.Name, slow.AddressSpaces, slow.TLS = "slow", []config.AddressSpace{{Domain: "slow.test", Cost: 1}}, config.TLSNone
	oth.TLS = config.TLSNone
	table := routing.NewTable(nil, []routing.Connector{
		{Name: slow.Name, Enabled: true, AddressSpaces: []routing.AddressSpace{{Domain: "slow.test", Cost: 1}}},
		{Name: oth.Name, Enabled: true, AddressSpaces: []routing.AddressSpace{{Domain: "*", Cost: 1}}}})
	d, err := New(Config{Hostname: "umbra.test", Routing: table, SendConnectors: []config.SendConnector{slow, oth}, Resolver: dns,
		ConnectTimeout: 2 * time.Second, CommandTimeout: time.Hour, DataTimeout: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	r := startExpiryRig(t, d)
	q, ctx, clk, ev, t0 := r.q, r.ctx, r.clk, r.ev, r.t0
	defer r.stop(func() {
		hmu.Lock()
		for _, c := range held {
			c.Close()
		}
		hmu.Unlock()
	})
	m := &queue.Message{ID: q.NewID(), From: "sender@example.org", Arrived: t0, Attempts: 1,
		Rcpts: []queue.Recipient{{Addr: "x@defer.test"}, {Addr: "z@slow.test"}}}
	if err := q.Submit(ctx, m, body); err != nil {
		t.Fatal(err)
	}
	select {
	case <-greeted:
	case <-time.After(10 * time.Second):
		t.Fatal("no session to the tarpit")
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		s.mu.Lock()
		n := s.deferred
		s.mu.Unlock()
		if n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("x@defer.test not tried")
		}
		time.Sleep(5 * time.Millisecond)
	}
	clk.Advance(30 * time.Second) // the expiry; the tarpit holds the greeting
	for s.sentTo("sender@example.org") == 0 {
		if time.Now().After(deadline) {
			t.Errorf("no failure DSN at the expiry of a retry while the next hop held its greeting")
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	ev.mu.Lock()
	events := append([]string(nil), ev.events...)
	ev.mu.Unlock()
	fails := 0
	for _, e := range events {
		if strings.HasPrefix(e, "fail 550 5.4.7") {
			fails++
		}
	}
	if fails != 2 {
		t.Errorf("%d expired, want 2: %q", fails, events)
	}
}
