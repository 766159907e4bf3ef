package delivery

import (
	"context"
	"testing"
	"time"

	"umbra/internal/routing"
)

// SR-15, SR-16 (sites48 F2): the hand-over of discards to a former holder
// (hub-b, removed from hub-p's topology) answers for it at the takeover
// bound only when the server reached presents the transport database
// hub-p met hub-b with. One stating hub-b's name with another database
// (reinstalled, wiped, restored from a backup) gets its discards all the
// same, but its answer says nothing of the copies made here: a holder of
// the topology that comes back so has them taken as lost and made again
// (ShadowHolderSeen), and taken as held there, the messages whose copy
// it lost would keep none, unlisted by umbra shadow single.
func TestFormerHolderWithNewDatabaseIsNoAnswerForItsCopies(t *testing.T) {
	for _, c := range []struct {
		what   string
		met    func(holderDB string) string
		answer bool
	}{
		{"the database hub-p met it with", func(db string) string { return db }, true},
		{"another database than hub-p met it with", func(string) string { return "db-b-before-its-reinstall" }, false},
	} {
		hq, hubB, _ := startHolderWithCopy(t, "hub-b", "hub-b") // states NAME hub-b
		_, q := openDiscardPrimary(t)
		if _, _, err := q.ShadowHolderSeen("hub-b", c.met(hq.DatabaseID())); err != nil {
			t.Fatal(err)
		}
		if err := q.NoteHolderAddress("hub-b", hubB); err != nil {
			t.Fatal(err)
		}
		topo, err := routing.NewTopology(routing.TopologyInput{
			Sites:   []routing.Site{{Name: "a"}},
			Servers: []routing.Server{{Name: "hub-p", Role: routing.RoleHub, Site: "a", Address: "127.0.0.1:1"}},
		})
		if err != nil {
			t.Fatal(err)
		}
		d, err := New(Config{Hostname: "hub-p.test", Routing: routing.NewTable(nil, nil), Topology: topo, LocalServer: "hub-p",
			ShadowServerID: "hub-p", Resolver: &fakeDNS{}, ConnectTimeout: 2 * time.Second, CommandTimeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { d.Close() })
		h := Holders{R: NewReceiptShadow(d, "db-p").WithHolders(q), Q: q}
		id, err := h.Probe(context.Background(), "hub-b")
		if err == nil {
			t.Fatalf("%s: a probe went to hub-b, no server of the topology", c.what)
		}
		if got := id != ""; got != c.answer {
			t.Errorf("%s: the hand-over answered for hub-b's copies: %v (database %q), want %v", c.what, got, id, c.answer)
		}
	}
}
