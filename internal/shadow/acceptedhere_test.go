package shadow

import (
	"strings"
	"testing"
	"time"
)

// SR-7, OPS-3 (rt28e F3): hub-b ran a copy of hub-c's data dir, so this
// server refused its contacts (state refused, "… is hub-c's here"); then
// it came back on its own data dir and a session it opened here,
// presenting an id of its own, was let in (package smtp:
// anotherDatabaseAccepted). That session ends the refusal as it clears
// hub-b's destination mark: shadow list said refused, with the advice
// to give it a data dir of its own, until this server's next heartbeat
// or relay happened to reach it (up to a heartbeat timeout). A refusal
// by the primary itself (it refuses this server's sessions) is not this
// server's to end: it stays until hub-b lets this server in.
func TestRefusedHereEndsWhenItsSessionIsLetInHere(t *testing.T) {
	m, fs, hb, clk := setup()
	fs.ps["hub-b"].DatabaseID = "db1"
	st := &ownedStore{fakeStore: fs, owners: map[string]string{"db-c": "hub-c"}}
	m.cfg.Store, m.rec.store = st, st
	hb.set(func(h *fakeHB) { h.db = "db-c" })
	step(t, m, hb, clk, 300*time.Second) // the heartbeat, refused here
	if ps := m.Status(); len(ps) != 1 || !strings.Contains(ps[0].Refused, "is hub-c's here") {
		t.Fatalf("status after the refused contact: %+v; want refused", ps)
	}
	// The queue records the stored id presented in the same session
	// (smtp primarySeen: the failed heartbeats are forgotten).
	fs.mu.Lock()
	fs.ps["hub-b"].Failures = 0
	fs.mu.Unlock()
	m.rec.SessionAcceptedHere("hub-b", "db1")
	if ps := m.Status(); len(ps) != 1 || ps[0].Refused != "" || !ps[0].TakeoverAt.IsZero() {
		t.Fatalf("status after hub-b's session presenting its own id was let in here: %+v; want no refusal", ps)
	}
	if _, _, _, ok := m.rec.Refusal("hub-b"); ok {
		t.Fatal("Refusal still reports hub-b refused")
	}

	// The primary's own refusal of this server's sessions stays.
	m.rec.Refused("hub-b", SessionRelay, "550 5.7.1 not permitted")
	m.rec.SessionAcceptedHere("hub-b", "db1")
	if ps := m.Status(); len(ps) != 1 || !strings.Contains(ps[0].Refused, "550 5.7.1") {
		t.Fatalf("status after hub-b refused a relay and then opened a session here: %+v; want its refusal kept", ps)
	}
}
