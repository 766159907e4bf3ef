package smtp

import (
	"strings"
	"testing"
	"time"

	"umbra/internal/clock"
)

// rt27 F3: the drain keeps a shadow server's watch session open while
// deliveries go on — its long poll brings each discard prepared during
// the drain as it commits — while every other idle session is closed at
// once; the last step (CloseShadow, after the deliveries stopped)
// answers the long poll with what was prepared since, then closes it.
func TestDrainKeepsWatchSessionsForTheirDiscards(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC))
	sh := &signalShadow{fakeShadow: fakeShadow{notes: map[string][]string{}}, sig: discardSig{ch: map[string]chan struct{}{}}}
	s, err := NewServer(ServerConfig{Hostname: "mx.test", Connectors: transportConnector(t, ""), Routing: testTable(),
		Queue: &fakeQueue{}, Shadow: sh, ShadowEnabled: true, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	s.Serve()
	t.Cleanup(func() { ctx, cancel := contextWithTimeout(5 * time.Second); defer cancel(); s.Shutdown(ctx) })

	nc, err := dialTCP(s)
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewClient(contextBackground(), nc, ClientOptions{LocalName: "hub2.test", TLS: TLSNone})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Auth(saslPlain("hub2", "hubpass")); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Shadow("hub2"); err != nil || c.ShadowVersion != 2 {
		t.Fatalf("Shadow: version %d, %v", c.ShadowVersion, err)
	}
	plain := dial(t, s, "") // an ordinary idle session: closed at the drain's start
	plain.expect("220")
	plain.cmd("EHLO client.example", "250")

	type result struct {
		ids []string
		err error
	}
	wait := func() chan result {
		ch := make(chan result, 1)
		go func() { ids, err := c.WaitDiscard(10, 60*time.Second); ch <- result{ids, err} }()
		return ch
	}
	got := wait()
	waitTimer(t, clk, 1)
	ctx, cancel := contextWithTimeout(10 * time.Second)
	defer cancel()
	s.Drain(ctx) // returns: no transaction open; the watch session stays
	select {
	case r := <-got:
		t.Fatalf("the drain answered the long poll before the deliveries stopped: %+v", r)
	case <-time.After(100 * time.Millisecond):
	}
	if line := plain.reply(); !strings.HasPrefix(line, "421") {
		t.Fatalf("idle ordinary session at the drain: %q, want 421", line)
	}
	// A delivery finishes during the drain: its discard goes at once.
	sh.commit("hub2", "m-1")
	if r := <-got; r.err != nil || strings.Join(r.ids, ",") != "m-1" {
		t.Fatalf("discard prepared during the drain: %+v", r)
	}
	// The watch session asks again; a discard prepared without a signal
	// reaching it (the last delivery's) comes with the last reply.
	got = wait()
	waitTimer(t, clk, 1)
	sh.mu.Lock()
	sh.notes["hub2"] = append(sh.notes["hub2"], "m-2")
	sh.mu.Unlock()
	s.CloseShadow(ctx)
	if r := <-got; r.err != nil || strings.Join(r.ids, ",") != "m-2" {
		t.Fatalf("the last long poll: %+v; want m-2 before the close", r)
	}
	if err := c.Noop(); err == nil {
		t.Fatal("the watch session is still open after CloseShadow")
	}
}
