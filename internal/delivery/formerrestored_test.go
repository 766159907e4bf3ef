package delivery

import (
	"context"
	"testing"
	"time"

	"umbra/internal/queue"
	"umbra/internal/routing"
)

// SR-15, SR-7: a former holder (hub-b, removed from hub-p's topology)
// that came back with another transport database id — umbra db restore
// of a backup holding hub-p's copy gives the restored database a new id —
// still holds the copy hub-p owes it the discard of, and it answers at
// its own address stating its own name: the discard is handed to it.
// Refused for the id alone, it would stay owed for ever and the copy on
// hub-b would be taken over at its expiry — a second delivery of a
// message hub-p delivered. (A server still in the topology with a new id
// gets its discards pushed too: no id check.)
func TestSR15FormerHolderWithNewDatabaseIDStillGetsItsDiscards(t *testing.T) {
	hq, hubB, cp := startHolderWithCopy(t, "hub-b", "hub-b") // states NAME hub-b (its hostname here, its server.name in the daemon)
	oid := cp.OrgID

	st, q := openDiscardPrimary(t)
	// hub-b's id as hub-p met it before hub-b's restore.
	if _, _, err := q.ShadowHolderSeen("hub-b", "db-b-before-its-restore"); err != nil {
		t.Fatal(err)
	}
	if err := st.Update(context.Background(), func(tx *queue.Tx) error {
		return tx.AddDiscard("hub-b", oid, time.Now())
	}); err != nil {
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
	pushOwedDiscardsAsHubP(t, q, topo)
	if _, err := hq.Message(cp.ID); err == nil {
		owed, _ := q.OwedDiscardServers()
		t.Fatalf("hub-b (stating its own name, database %s) still holds the copy of %s hub-p owes it the discard of (owed now: %q): taken over at its expiry, a second delivery",
			hq.DatabaseID(), oid, owed)
	}
}
