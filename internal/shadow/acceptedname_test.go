package shadow

import (
	"strings"
	"testing"
	"time"
)

// SR-7, OPS-3 (shadow30 item 5): this server's refusal of a primary's
// contacts is kept under the primary's name as its copies are stored
// (the server id its sessions stated, in its own spelling: Hub-B),
// while the session let in that ends it is named as the topology spells
// the server (package smtp topologyName: hub-b). One server, one key:
// the refusal ends whatever the letter case or a final dot.
func TestRefusedHereEndsUnderAnotherSpellingOfTheName(t *testing.T) {
	for _, spelling := range []string{"hub-b", "HUB-B", "hub-b."} {
		t.Run(spelling, func(t *testing.T) {
			m, fs, hb, clk := setup()
			fs.ps["Hub-B"] = fs.ps["hub-b"]
			delete(fs.ps, "hub-b")
			fs.ps["Hub-B"].Name = "Hub-B"
			fs.ps["Hub-B"].DatabaseID = "db1"
			fs.copies["Hub-B"] = true
			st := &ownedStore{fakeStore: fs, owners: map[string]string{"db-c": "hub-c"}}
			m.cfg.Store, m.rec.store = st, st
			hb.set(func(h *fakeHB) { h.db = "db-c" })
			step(t, m, hb, clk, 300*time.Second) // the heartbeat, refused here
			if ps := m.Status(); len(ps) != 1 || !strings.Contains(ps[0].Refused, "is hub-c's here") {
				t.Fatalf("status after the refused contact: %+v; want refused", ps)
			}
			fs.mu.Lock()
			fs.ps["Hub-B"].Failures = 0
			fs.mu.Unlock()
			m.rec.SessionAcceptedHere(spelling, "db1")
			if ps := m.Status(); len(ps) != 1 || ps[0].Refused != "" {
				t.Fatalf("status after Hub-B's session (named %s) presenting its own id was let in here: %+v; want no refusal", spelling, ps)
			}
		})
	}
}
