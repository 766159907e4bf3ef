package queue

import (
	"slices"
	"testing"
)

// SR-4, SR-6, SR-11 (rt33 F2): the primary's failure DSN for f@ waits
// at hub-b while b@ defers; the copy at hub-a covers f@ while the DSN
// is on hub-b's disk alone. Once the DSN's own copy is confirmed held
// on a second server (hub-c), the DSN survives hub-b's loss: hub-c
// takes it over and sends it. The copy at hub-a must no longer cover
// f@ then — its takeover would fail f@ again and the sender would get
// two failure DSNs — so the commit that names the DSN's holder writes
// f@'s partial discard.
func TestSR4FailureDSNHeldElsewhereSettlesCopy(t *testing.T) {
	p, qS, m, sid := reportedSetup(t, 0, "f@c.example", "b@c.example")
	var dsn *Message
	for _, pm := range messages(t, p.s) {
		if pm.OwnDSN() {
			dsn = pm
		}
	}
	if dsn == nil {
		t.Fatal("no failure DSN at hub-b")
	}
	if lines := p.fetchPartial(t, qS, "hub-b"); len(lines) != 0 {
		t.Fatalf("notifications while the DSN is on hub-b alone: %q", lines)
	}
	waitFor(t, "the DSN's first attempt to end", func() bool {
		got, err := p.q.Message(dsn.ID)
		return err == nil && got.Attempts > 0 && got.State != Active
	})
	// The holders' pass pushed the DSN's copy to hub-c, confirmed.
	if err := p.q.ShadowRecopied(dsn.ID, "hub-c"); err != nil {
		t.Fatal(err)
	}
	if got, err := p.q.Message(dsn.ID); err != nil || got.ShadowServer != "hub-c" {
		t.Fatalf("the DSN's record after its copy was confirmed: %+v %v", got, err)
	}
	if lines := p.fetchPartial(t, qS, "hub-b"); !slices.Equal(lines, []string{sid + " RCPT=f@c.example"}) {
		t.Fatalf("notifications once the DSN is held on hub-c: %q, want the partial discard of f@", lines)
	}
	// hub-b lost for good: hub-a's takeover does not fail f@ again.
	if _, err := qS.Takeover("hub-b", "test"); err != nil {
		t.Fatal(err)
	}
	got, _ := qS.Message(m.ID)
	if pend := got.Pending(); len(pend) != 1 || got.Rcpts[pend[0]].Addr != "b@c.example" {
		t.Fatalf("taken over: pending %v of %+v, want b@ alone (f@'s DSN is hub-c's to send)", pend, got.Rcpts)
	}
}
