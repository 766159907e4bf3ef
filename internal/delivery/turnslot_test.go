package delivery

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"umbra/internal/clock"
	"umbra/internal/config"
	"umbra/internal/queue"
	"umbra/internal/routing"
)

// SPEC Q-6, SR-11 (no head-of-line blocking): a job waiting for a
// mailbox's turn holds its LMTP session, a connection of its own
// destination's window, and nothing else. With max_active 2, one
// message in a slow LMTP transaction to u@ and a second one for u@
// waiting for its turn held the whole active set: a message for another
// destination (a smart host that takes everything) waited in the time
// index until the slow transaction ended — the fake clock never moves
// here, so no job turned overdue to lend the reserve. The waiting job
// lends its message's slot now, and the other destination's mail is
// delivered while the turn still waits.
func TestQ6MailboxTurnWaitHoldsNoActiveSlot(t *testing.T) {
	lmtp := &turnLMTP{listen: "127.0.0.159:8511", gate: make(chan struct{}), gateAddr: "u@example.test"}
	lmtpAddr := lmtp.start(t)
	released := false
	release := func() {
		if !released {
			released = true
			close(lmtp.gate)
		}
	}
	defer release()
	hop := startFaultHopAt(t, "127.0.0.159:8512", false)
	conn := config.SendConnector{Name: "remote", AddressSpaces: []config.AddressSpace{{Domain: "remote.test", Cost: 1}},
		SmartHosts: []string{"127.0.0.159:" + hop.port()}, TLS: config.TLSNone}
	table := routing.NewTable([]routing.AcceptedDomain{{Domain: "example.test", Type: routing.Authoritative}},
		[]routing.Connector{{Name: conn.Name, Enabled: true, AddressSpaces: []routing.AddressSpace{{Domain: "remote.test", Cost: 1}}}})
	d, err := New(Config{Hostname: "umbra.test", Routing: table, SendConnectors: []config.SendConnector{conn},
		Mailbox: config.Mailbox{LMTP: lmtpAddr}, ConnectTimeout: 2 * time.Second, CommandTimeout: 30 * time.Second, DataTimeout: 60 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	store, err := queue.Open(filepath.Join(t.TempDir(), "queue.db"), queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	r := &expiryRig{store: store, d: d, t0: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), ev: &eventRecorder{}}
	r.clk = clock.NewFake(r.t0)
	r.q = queue.NewManager(store, d, queue.ManagerConfig{Hostname: "umbra.test", MaxActive: 2, Clock: r.clk, Events: r.ev,
		RetrySchedule: []time.Duration{time.Minute}, MessageExpiration: time.Hour, DelayNotification: 0})
	r.ctx, r.cancel = context.WithCancel(context.Background())
	r.q.Start(r.ctx)
	defer r.stop(release)
	fr := &faultRig{expiryRig: r, hop: hop}
	bound := func(what string, done func() bool) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second) // a bound on the test, not a timing assertion
		for !done() {
			if time.Now().After(deadline) {
				t.Fatalf("%s: events %q", what, r.ev.events)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	stored := func(a string) int { lmtp.mu.Lock(); defer lmtp.mu.Unlock(); return lmtp.stored[a] }
	// The mailbox destination has shown that it ends its jobs.
	fr.submit(t, "x@example.test")
	bound("x@ not stored", func() bool { return stored("x@example.test") == 1 })
	// A: u@'s transaction, held at its final dot.
	fr.submit(t, "u@example.test")
	bound("A's transaction did not begin", func() bool {
		lmtp.mu.Lock()
		defer lmtp.mu.Unlock()
		return lmtp.inFlight["u@example.test"] == 1
	})
	// B: u@ again, its job on a session of its own, waiting for the turn.
	fr.submit(t, "u@example.test")
	bound("B's session did not open", func() bool { lmtp.mu.Lock(); defer lmtp.mu.Unlock(); return lmtp.open == 2 })
	// C: another destination's mail, delivered while B still waits.
	fr.submit(t, "c@remote.test")
	bound("the other destination's message waited behind the mailbox's turn", func() bool { return len(hop.got("c@remote.test")) == 1 })
	if n := stored("u@example.test"); n != 0 {
		t.Fatalf("u@ stored %d times before its turn was released", n)
	}
	release()
	bound("u@'s two messages not stored after the release", func() bool { return stored("u@example.test") == 2 })
	lmtp.mu.Lock()
	defer lmtp.mu.Unlock()
	if lmtp.most["u@example.test"] != 1 {
		t.Errorf("transactions in flight at once to u@: %d, want 1", lmtp.most["u@example.test"])
	}
}
