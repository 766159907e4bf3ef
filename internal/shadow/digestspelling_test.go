package shadow

import (
	"fmt"
	"testing"
	"time"
)

// SR-6 (shadow30 item 3, shadow31 S4): a relay names its primary as the
// topology spells it ("HUB-B."), while the primary's copies, and so
// what a completed session proved of it, are kept under the name its
// sessions state ("hub-b"). A busy primary's relays are its only
// sessions (no heartbeat falls due), so what they prove must land on
// the primary the heartbeats judge: proved of an earlier release under
// the topology's spelling, its refusal without a digest is its own —
// alive, no failure counted —, and once a relay sees it upgraded, a
// refusal without the digest at its address is a failed heartbeat
// again.
func TestSR6SessionDigestNotedUnderTheStoredSpelling(t *testing.T) {
	m, fst, hb, clk := setup()
	fst.ps["hub-b"].DatabaseID = "db1"
	st := &earlierStore{fakeStore: fst, digestless: map[string]string{}}
	m.cfg.Store, m.rec.store = st, st
	m.rec.SessionDigest("HUB-B.", "db1", "") // a relay: the topology's spelling
	reply := "550 5.7.1 Shadow redundancy not offered"
	hb.set(func(h *fakeHB) { h.err = fmt.Errorf("heartbeat: %w", digestRefusal{refusedErr{reply}, ""}) })
	step(t, m, hb, clk, 300*time.Second)
	if ps := m.Status(); len(ps) != 1 || ps[0].Failures != 0 || ps[0].Refused != reply {
		t.Fatalf("a relay under the topology's spelling proved hub-b of an earlier release, yet its refusal counts as a failed heartbeat: %+v", ps)
	}
	m.rec.SessionDigest("HUB-B.", "db1", "D:db1") // a relay sees it upgraded
	step(t, m, hb, clk, 300*time.Second)
	if ps := m.Status(); len(ps) != 1 || ps[0].Failures != 1 {
		t.Fatalf("a relay saw hub-b advertise its digest, yet a refusal without it at its address is still its own: %+v", ps)
	}
}
