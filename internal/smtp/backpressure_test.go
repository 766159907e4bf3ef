package smtp

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"umbra/internal/backpressure"
	"umbra/internal/clock"
)

// Back pressure at MAIL: normal accepts; medium refuses anonymous
// (internet) senders with 452 4.3.1 and slows transport servers (their
// MAIL is answered only after slow_delay, on the fake clock); high
// refuses everyone. Other commands keep working.
func TestBackPressureAtMail(t *testing.T) {
	conns := connectors(t, `  - name: internet
    bindings: ["127.0.0.1:0"]
    remote_ranges: ["127.0.0.0/8"]
    permissions: {anonymous: [submit]}
  - name: org
    bindings: ["127.0.0.1:0"]
    remote_ranges: ["127.0.0.2/32"]
    externally_secured: true
    permissions: {servers: [submit, relay]}
`)
	clk := clock.NewFake(time.Unix(1_700_000_000, 0))
	obs := &pressureObserver{rejectObserver: rejectObserver{why: map[string]int{}}}
	s, err := NewServer(ServerConfig{Hostname: "mx.test", Connectors: conns, Routing: testTable(), Queue: &fakeQueue{}, Clock: clk, Observer: obs})
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
	var level atomic.Int32
	s.SetBackPressure(func() backpressure.State {
		return backpressure.State{Level: backpressure.Level(level.Load()), Resource: "submission_queue"}
	}, time.Second)

	anon, server := dial(t, s, "127.0.0.1"), dial(t, s, "127.0.0.2")
	for _, d := range []*dialog{anon, server} {
		d.expect("220")
		d.cmd("EHLO c", "250")
	}
	anon.cmd("MAIL FROM:<a@example.org>", "250")
	anon.cmd("RSET", "250")
	server.cmd("MAIL FROM:<a@example.org>", "250")
	server.cmd("RSET", "250")
	if n := s.OpenSessions(); n != 2 {
		t.Errorf("%d open sessions, want 2", n)
	}

	level.Store(int32(backpressure.Medium))
	anon.cmd("MAIL FROM:<a@example.org>", "452 4.3.1")
	anon.cmd("NOOP", "250")
	server.send("MAIL FROM:<a@example.org>\r\n")
	deadline := time.Now().Add(10 * time.Second)
	for clk.Pending() == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if clk.Pending() == 0 {
		t.Fatal("the transport server's MAIL was not slowed")
	}
	clk.Advance(time.Second)
	server.expect("250")
	server.cmd("RSET", "250")

	level.Store(int32(backpressure.High))
	anon.cmd("MAIL FROM:<a@example.org>", "452 4.3.1")
	server.cmd("MAIL FROM:<a@example.org>", "452 4.3.1")

	level.Store(int32(backpressure.Normal))
	anon.cmd("MAIL FROM:<a@example.org>", "250")
	server.cmd("MAIL FROM:<a@example.org>", "250")

	// rt20b-F4: a refused MAIL is no refused connection; it is counted
	// as what it is, per connector.
	if n := obs.count("back_pressure"); n != 0 {
		t.Errorf("%d MAIL refusals counted as refused connections", n)
	}
	obs.mu.Lock()
	defer obs.mu.Unlock()
	if obs.refused["internet"] != 2 || obs.refused["org"] != 1 {
		t.Errorf("back pressure refusals %v, want internet 2, org 1", obs.refused)
	}
}

// pressureObserver counts MAIL commands refused by back pressure, per
// connector, and sessions ended by a limit (rejectObserver).
type pressureObserver struct {
	rejectObserver
	refused map[string]int
}

func (o *pressureObserver) BackPressureRefused(connector string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.refused == nil {
		o.refused = map[string]int{}
	}
	o.refused[connector]++
}

// At high back pressure a shadow session still gets its discard
// notifications (the shadow server can free its copies) while its new
// mail is refused.
func TestBackPressureHighKeepsDiscardTraffic(t *testing.T) {
	sh := &fakeShadow{notes: map[string][]string{"hub2": {"s1", "s2"}}}
	s := startShadowServer(t, &fakeQueue{}, sh, true, transportConnector(t, ""))
	s.SetBackPressure(func() backpressure.State {
		return backpressure.State{Level: backpressure.High, Resource: "disk_used_percent"}
	}, time.Second)
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO hub2.test", "250")
	d.cmd(authHub2, "235")
	d.cmd("XSHADOW hub2", "250 db-")
	d.cmd("MAIL FROM:<a@example.org> XSHADOW=hub2.msg-1", "452 4.3.1")
	if got := d.cmd("XQUERYDISCARD 5", "250 s2"); got != "250-2.0.0 2 discard notifications\n250-s1\n250 s2" {
		t.Fatalf("XQUERYDISCARD at high back pressure:\n%s", got)
	}
}
