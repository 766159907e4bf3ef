package smtp

import (
	"strings"
	"testing"
	"time"

	"umbra/internal/clock"
)

// SR-15/SR-17 (owed44's README: a discard owed to a server "is answered
// at once on its open watch session"): a notification committed while
// the watch session's long poll is not waiting — between two polls, its
// wake finding no one — is answered by the next poll at once, not after
// that poll's whole WAIT. waitDiscards registers, then looks, so the
// wake that came before the registration is not needed. The server's
// clock never moves here: a poll that slept its WAIT would not return.
func TestSR17OwedBetweenPollsAnsweredAtOnce(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 12, 7, 2, 0, 0, 0, time.UTC))
	s, sh := signalServer(t, clk)
	c := watchClient(t, s)
	sh.commit("hub2", "m-between") // no poll waits: its wake reaches no one
	select {
	case r := <-waitDiscard(c, 5*time.Second):
		if r.err != nil || strings.Join(r.ids, ",") != "m-between" {
			t.Fatalf("the poll after the commit: %+v; want m-between", r)
		}
	case <-time.After(20 * time.Second):
		c.Close() // ends the poll's goroutine
		t.Fatal("a discard committed between two polls waited for the next poll's whole WAIT")
	}
	if clk.Pending() != 0 {
		t.Fatalf("%d waits left on the clock after the poll was answered", clk.Pending())
	}
}
