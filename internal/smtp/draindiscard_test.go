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
	s, sh := signalServer(t, clk)
	c := watchClient(t, s)
	plain := dial(t, s, "") // an ordinary idle session: closed at the drain's start
	plain.expect("220")
	plain.cmd("EHLO client.example", "250")

	wait := func() chan discardWait { return waitDiscard(c, 60*time.Second) }
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
