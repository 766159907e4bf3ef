package shadow

import (
	"strings"
	"testing"
	"time"
)

// SR-6 (shadow31 S3): the judgement the queue's expiry pass asks of the
// shadow view (queue SetExpiryKeeper). A primary whose last session
// with this server it answered and refused, with the database the
// copies were made against (its shadow verbs taken away by a reload),
// owns its messages' expiry: their expired copies are kept, not taken
// over and delivered a second time. So they are in the first two
// heartbeat timeouts after this server's start, before any heartbeat
// could judge the primary (the refusals are memory). Otherwise — a
// primary heard from, unreachable, or one whose contacts this server
// refuses — nothing is kept: the copies are taken over at their expiry
// as before. shadow list's WHY says so for the refusing primary.
func TestSR6ExpiredCopiesKeptWhilePrimaryRefuses(t *testing.T) {
	m, _, _, clk := setup()
	if why := m.KeepExpiredCopies("hub-b"); why == "" {
		t.Fatal("right after the start, before any heartbeat judged hub-b: its expired copies are not kept")
	}
	clk.Advance(2*300*time.Second + time.Second)
	if why := m.KeepExpiredCopies("hub-b"); why != "" {
		t.Fatalf("hub-b never refused this server: expired copies kept (%q)", why)
	}
	const reply = "502 5.5.1 XSHADOW not available"
	m.rec.Refused("hub-b", SessionHeartbeat, reply)
	why := m.KeepExpiredCopies("HUB-B.") // the topology's spelling may differ
	if why == "" || !strings.Contains(why, reply) {
		t.Fatalf("hub-b answers and refuses this server: KeepExpiredCopies = %q, want its refusal", why)
	}
	if ps := m.Status(); len(ps) != 1 || !strings.Contains(ps[0].ExpiryKept, "kept past their expiry") {
		t.Fatalf("shadow list does not say the copies are kept past their expiry: %+v", ps)
	}
	// A session let in ends the refusal, and the keeping.
	clk.Advance(time.Second)
	if err := m.rec.save("hub-b")("db1", 0, nil, true); err != nil {
		t.Fatal(err)
	}
	if why := m.KeepExpiredCopies("hub-b"); why != "" {
		t.Fatalf("hub-b let this server in: expired copies still kept (%q)", why)
	}
}
