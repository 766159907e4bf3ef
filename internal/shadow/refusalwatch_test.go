package shadow

import (
	"testing"
	"time"
)

// SR-6, OPS-2: a refusal recorded while a watch
// session let in before it runs — here a refused probe of the primary
// as a holder of this server's copies (SessionRefused "probe"; a copy on
// receipt refused there is recorded so too) — is ended only by a
// session opened after it (rt30a F3). The watch session's discard
// queries (every few seconds while a sender waits on the primary, for
// as long as copies keep coming) are contacts: they keep the heartbeat
// from coming due (one timeout after the last contact), so a primary
// whose refusal stands gets its heartbeat one timeout after the
// refusal all the same: the primary lets this server in again and the
// refusal ends (README: "until a session opened after the first refusal
// is let in — the next heartbeat let in").
func TestRefusalEndsWhileAWatchSessionRuns(t *testing.T) {
	m, _, hb, clk := setup()
	watch := m.rec.save("hub-b") // the watch session, let in before the refusal
	if err := watch("db1", 0, nil, true); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Second)
	m.rec.SessionRefused("hub-b", "probe", "502 5.5.1 XSHADOW not available", "D:db1")
	if _, _, _, ok := m.rec.Refusal("hub-b"); !ok {
		t.Fatal("the refused probe is not recorded")
	}
	// hub-b grants the verb again at once. The watch session goes on,
	// a query every 5 s, for twice the heartbeat timeout.
	calls := hb.n("hub-b")
	for i := 0; i < 120; i++ {
		step(t, m, hb, clk, 5*time.Second)
		if err := watch("db1", 0, nil, true); err != nil {
			t.Fatal(err)
		}
	}
	if _, since, _, ok := m.rec.Refusal("hub-b"); ok {
		t.Fatalf("10 min after one refused probe, hub-b letting everything in and its watch session completing a query every 5 s: "+
			"still refused since %v; heartbeats made since: %d (none comes due while the watch's contacts go on)", since, hb.n("hub-b")-calls)
	}
}
