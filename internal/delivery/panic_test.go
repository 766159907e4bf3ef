package delivery

import (
	"context"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"umbra/internal/config"
	"umbra/internal/queue"
	"umbra/internal/smtp"
)

// panicCount is a PanicObserver.
type panicCount struct {
	mu sync.Mutex
	n  map[string]int
}

func (p *panicCount) DeliveryPanic(part string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.n == nil {
		p.n = map[string]int{}
	}
	p.n[part]++
}

func (p *panicCount) count(part string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.n[part]
}

// startScriptedMany serves s on every connection to a loopback port.
func startScriptedMany(t *testing.T, s *scripted) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for range 16 { // bounded: a test opens a few sessions
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(20 * time.Second))
				s.serve(c)
			}()
		}
	}()
	return ln.Addr().String()
}

// a panic in an outbound attempt (here driven by a next hop's
// reply to RCPT into a test seam, over real SMTP) ends that attempt
// only: the group's recipients are deferred with queue.PanicReply
// (tried again, never marked delivered or failed), the panic is counted
// (umbra_delivery_panics_total{part="delivery"}) and logged with its
// stack at most once a minute — whether the group ran on the caller's
// goroutine (one destination) or on one of its own (several: a panic
// there ended the daemon, outside any recover).
func TestPanicInDeliveryDefersTheGroup(t *testing.T) {
	replySeam = func(err error) {
		if strings.Contains(err.Error(), "PANIC-SEAM") {
			panic("test seam: " + err.Error())
		}
	}
	defer func() { replySeam = nil }()
	for _, shape := range []struct {
		name  string
		rcpts []string
	}{
		{"one group", []string{"boom@example.net", "ok@example.net"}},
		{"two groups", []string{"boom@example.net", "ok@example.net", "other@example.org"}},
	} {
		t.Run(shape.name, func(t *testing.T) {
			s := &scripted{refuse: map[string]string{"boom@example.net": "550 5.7.1 PANIC-SEAM"}}
			addr := startScriptedMany(t, s) // each group its own session, whichever connects first
			dns := &fakeDNS{mx: map[string][]*net.MX{"example.net": {{Host: "mx.example.net.", Pref: 10}},
				"example.org": {{Host: "mx.example.org.", Pref: 10}}},
				hosts: map[string][]string{"mx.example.net": {"127.0.0.1"}, "mx.example.org": {"127.0.0.1"}}}
			d := newDeliverer(t, dns, config.Mailbox{}, mxConnector(portOf(addr)))
			var logs lockedBuffer
			d.log = slog.New(slog.NewTextHandler(&logs, nil))
			pc := &panicCount{}
			d.SetPanics(pc)
			m := message(shape.rcpts...)
			res := byRcpt(m, d.Deliver(context.Background(), m, body, all(m)))
			for _, a := range []string{"boom@example.net", "ok@example.net"} {
				if r := res[a]; r.Outcome != queue.Deferred || r.Reply != queue.PanicReply {
					t.Errorf("%s: %v %q; want deferred with %q", a, r.Outcome, r.Reply, queue.PanicReply)
				}
			}
			if pc.count("delivery") != 1 {
				t.Errorf("panics counted: %v; want delivery 1", pc.n)
			}
			if l := logs.String(); !strings.Contains(l, "delivery panicked") || !strings.Contains(l, "test seam") || !strings.Contains(l, "goroutine") {
				t.Errorf("the log has no line with the panic and its stack:\n%s", l)
			}
		})
	}
}

// SR-5, Q-5: a panic in a shadow session — here the shadow recorder's
// save, driven by the discard notifications a real primary answered to
// XQUERYDISCARD — ends that heartbeat or watch session with an error, as
// a broken session does; it is counted under part "shadow" and the
// daemon goes on (the heartbeat runs on the shadow manager's goroutine,
// outside every recover).
func TestPanicInShadowSessionEndsIt(t *testing.T) {
	cfg, err := config.Parse([]byte(`server: {name: hub.test}
receive_connectors:
  - name: transport
    bindings: ["127.0.0.1:0"]
    remote_ranges: ["127.0.0.0/8"]
    externally_secured: true
    permissions: {anonymous: [submit, relay, accept-xshadow]}
`), "primary.yaml")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := smtp.NewServer(smtp.ServerConfig{Hostname: "hub.test", Connectors: cfg.ReceiveConnectors,
		Queue: primaryQueue{}, Shadow: primaryQueue{}, ShadowEnabled: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	srv.Serve()
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	}()
	addr := srv.Addrs()[0].String()
	d := newDeliverer(t, &fakeDNS{}, config.Mailbox{})
	d.st.Load().cfg.ShadowServerID = "edge1"
	pc := &panicCount{}
	d.SetPanics(pc)
	save := func(dbID string, _ uint64, ids []string, contact bool) error {
		if len(ids) > 0 {
			panic("test seam: discards " + strings.Join(ids, ","))
		}
		return nil
	}
	if err := d.Heartbeat(context.Background(), "hub.test", addr, save); err == nil || !strings.Contains(err.Error(), "recovered panic") {
		t.Fatalf("heartbeat whose save panicked: %v; want an error naming the recovered panic", err)
	}
	if err := d.Watch(context.Background(), "hub.test", addr, save, func() bool { return false }); err == nil || !strings.Contains(err.Error(), "recovered panic") {
		t.Fatalf("watch session whose save panicked: %v; want an error naming the recovered panic", err)
	}
	if n := pc.count(PanicShadow); n != 2 {
		t.Fatalf("shadow panics counted: %d, want 2", n)
	}
}
