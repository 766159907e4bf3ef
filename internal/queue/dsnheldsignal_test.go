package queue

import (
	"testing"
	"time"
)

// rr34 shadowrt33 review (SR-4, SR-9; dsnheld.go): the commit that names
// the failure DSN's own holder writes the partial discard of the
// recipients it reports for hub-a, as the DSN's leaving does
// (releaseReported). The DSN's leaving then wakes a session of hub-a
// waiting for a notification (dsig) and tracks "partial discard
// notification for hub-a prepared"; nameCopyHolder drops the servers
// releaseReported returns, so hub-a hears of it only at its next
// question — and until then a loss of hub-b lets hub-a take the original
// over and fail f@ a second time, the very window dsnheld.go closes.
func TestSRFailureDSNHeldElsewhereWakesWaitingHolder(t *testing.T) {
	// hub-a's session waits under the name it states at XSHADOW; a
	// holder is one server whatever its spelling (holderfold.go).
	for _, stated := range []string{"hub-a", "HUB-A."} {
		t.Run(stated, func(t *testing.T) { rr34DSNHeldWakes(t, stated) })
	}
}

func rr34DSNHeldWakes(t *testing.T, stated string) {
	p, _, _, _ := reportedSetup(t, 0, "f@c.example", "b@c.example")
	var dsn *Message
	for _, pm := range messages(t, p.s) {
		if pm.OwnDSN() {
			dsn = pm
		}
	}
	if dsn == nil {
		t.Fatal("no failure DSN at hub-b")
	}
	waitFor(t, "the DSN's first attempt to end", func() bool {
		got, err := p.q.Message(dsn.ID)
		return err == nil && got.Attempts > 0 && got.State != Active
	})
	if lines, _ := p.q.DiscardsPartial("hub-a", 100); len(lines) != 0 {
		t.Fatalf("partial discards for hub-a before the DSN is held elsewhere: %q", lines)
	}
	woken := p.q.DiscardSignal(stated) // hub-a's watch session waits for its next notification
	if err := p.q.ShadowRecopied(dsn.ID, "hub-c"); err != nil {
		t.Fatal(err)
	}
	if lines, _ := p.q.DiscardsPartial("hub-a", 100); len(lines) != 1 {
		t.Fatalf("partial discards for hub-a once the DSN is held on hub-c: %q, want one", lines)
	}
	select {
	case <-woken:
	case <-time.After(2 * time.Second):
		t.Error("the partial discard for hub-a committed; hub-a's waiting session was not woken (it hears of it at its next question only)")
	}
}
