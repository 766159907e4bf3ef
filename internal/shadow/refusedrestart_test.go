package shadow

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// SR-13, OPS- (verbs24 item 4): the refused entry of the operator's view
// (a primary that refuses this server's sessions: shadow list's
// `refused`, with its reply and since when) is kept in memory only — it
// is the primary's answer, which the next session asks again. After a
// restart it shows again at the first heartbeat to that primary, which is
// due at once: a refusal moves neither the last contact nor the last
// failed try, so nothing the store keeps puts that heartbeat off (the
// README says so). The view in between (no more than the first pass of
// the heartbeats) shows the primary as the store keeps it.
func TestRefusedViewShowsAgainAtFirstHeartbeatAfterRestart(t *testing.T) {
	m, st, hb, clk := setup()
	st.ps["hub-b"].DatabaseID = "db1"
	reply := "550 5.7.1 Database id db-z is another server's here; nothing changed"
	hb.set(func(h *fakeHB) { h.err = fmt.Errorf("heartbeat: %w", digestRefusal{refusedErr{reply}, "D:db1"}) })
	step(t, m, hb, clk, 900*time.Second)
	if ps := m.Status(); len(ps) != 1 || ps[0].Refused != reply {
		t.Fatalf("before the restart: %+v, want refused", ps)
	}
	before := hb.n("hub-b")

	// A restart: a new manager over the same store, an hour later
	// (the refusals went on meanwhile on the primary's side).
	clk.Advance(time.Hour)
	m2 := New(Config{Timeout: 300 * time.Second, Retries: 3, CommandTimeout: 60 * time.Second, Clock: clk, Store: st, Heartbeater: hb})
	if ps := m2.Status(); len(ps) != 1 || ps[0].Refused != "" {
		t.Fatalf("right after the restart: %+v, want no refusal known yet", ps)
	}
	step(t, m2, hb, clk, time.Second)
	if n := hb.n("hub-b"); n != before+1 {
		t.Fatalf("%d heartbeats in the first second after the restart, want 1", n-before)
	}
	if ps := m2.Status(); len(ps) != 1 || ps[0].Refused != reply {
		t.Fatalf("after the first heartbeat of the restart: %+v, want refused again", ps)
	}
}

// The same for a refusal of this server's (the primary presents an id
// kept here as another server's, its copies made against another
// database: each refused heartbeat counts as failed, and its start is
// kept as the last failed try). After a restart the view shows the
// primary unreachable ("heartbeats fail", the failures and the takeover
// time the store keeps) until the next heartbeat, due one timeout after
// the last refused one; from it on, refused here again with what to do
// (its since: that heartbeat).
func TestRefusedHereViewAfterRestart(t *testing.T) {
	m, fs, hb, clk := setup()
	fs.ps["hub-b"].DatabaseID = "db1"
	st := &ownedStore{fakeStore: fs, owners: map[string]string{"db-c": "hub-c"}}
	m.cfg.Store, m.rec.store = st, st
	hb.set(func(h *fakeHB) { h.db = "db-c" })
	step(t, m, hb, clk, 300*time.Second)
	ps := m.Status()
	if len(ps) != 1 || !strings.Contains(ps[0].Refused, "is hub-c's here") {
		t.Fatalf("before the restart: %+v, want refused here", ps)
	}
	takeoverAt, lastTry := ps[0].TakeoverAt, clk.Now()
	before := hb.n("hub-b")
	m2 := New(Config{Timeout: 300 * time.Second, Retries: 3, CommandTimeout: 60 * time.Second, Clock: clk, Store: st, Heartbeater: hb})
	ps = m2.Status()
	if ps[0].Refused != "" || ps[0].Unreachable != "heartbeats fail" || !ps[0].TakeoverAt.Equal(takeoverAt) {
		t.Fatalf("right after the restart: %+v, want unreachable (heartbeats fail), takeover at %v", ps[0], takeoverAt)
	}
	step(t, m2, hb, clk, 299*time.Second)
	if n := hb.n("hub-b"); n != before {
		t.Fatalf("%d heartbeats within a timeout of the last refused one", n-before)
	}
	step(t, m2, hb, clk, 2*time.Second)
	ps = m2.Status()
	if hb.n("hub-b") != before+1 || !strings.Contains(ps[0].Refused, "is hub-c's here") || !ps[0].RefusedSince.Equal(lastTry.Add(300*time.Second)) {
		t.Fatalf("a timeout after the last refused heartbeat: %d heartbeats, %+v; want refused here again", hb.n("hub-b")-before, ps[0])
	}
}
