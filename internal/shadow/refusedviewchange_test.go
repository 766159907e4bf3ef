package shadow

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// SR-, OPS- (reread23 F2): hub-b presented hub-c's id (refused here: its heartbeats count
// as failed); then hub-b is back on its own database db1 but refuses
// this server's login, presenting db1's digest: the primary's refusal —
// alive, nothing counted, no takeover. The view must not keep the stale
// "refused here" state and announce a takeover that never comes.
func TestPrimaryRefusalEndsRefusedHereView(t *testing.T) {
	m, fs, hb, clk := setup()
	fs.ps["hub-b"].DatabaseID = "db1"
	st := &ownedStore{fakeStore: fs, owners: map[string]string{"db-c": "hub-c"}}
	m.cfg.Store, m.rec.store = st, st
	hb.set(func(h *fakeHB) { h.db = "db-c" })
	step(t, m, hb, clk, 300*time.Second) // refused here, one failure counted
	reply := "535 5.7.8 Authentication credentials invalid"
	hb.set(func(h *fakeHB) {
		h.db, h.err = "db1", fmt.Errorf("heartbeat: %w", digestRefusal{refusedErr{reply}, "D:db1"})
	})
	step(t, m, hb, clk, 3000*time.Second)
	if tk := fs.taken(); len(tk) != 0 {
		t.Fatalf("taken over: %v", tk)
	}
	ps := m.Status()
	t.Logf("view: refused=%q takeoverAt=%v now=%v", ps[0].Refused, ps[0].TakeoverAt, clk.Now())
	if !ps[0].TakeoverAt.IsZero() || strings.Contains(ps[0].Refused, "taken over at the retry count") {
		t.Fatalf("hub-b refuses with its own database's digest (alive, nothing counted), yet the view says: %q, takeover at %v (now %v) — a takeover that never comes",
			ps[0].Refused, ps[0].TakeoverAt, clk.Now())
	}
}
