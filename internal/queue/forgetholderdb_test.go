package queue

import (
	"errors"
	"testing"
)

// SR-7 (sites49 F3): the recorded database id of a holder the topology
// no longer names keeps nothing here once no message has its copy there:
// umbra shadow forget-database of it is done, not refused as "the shadow
// server of messages here" while message list is empty (a holder renamed
// and back again, its id recorded under the other name). The id of a
// primary record is still refused (TestForgetDatabaseID), and so is the
// id of a holder the topology names (TestRetiredHolderDatabaseIDStaysItsServers).
func TestForgetDatabaseIDOfHolderWithNoCopyHere(t *testing.T) {
	s := openTest(t)
	q, ctx := newPeerDBManager(t, s, topo{"hub-a": "127.0.0.1", "hub-c": "127.0.0.3"}, nil)
	if _, _, err := q.ShadowHolderSeen("hub-c", "db-c"); err != nil {
		t.Fatal(err)
	}
	if _, err := q.ForgetDatabaseID("db-c"); !errors.Is(err, ErrNotApplicable) {
		t.Fatalf("forgetting the id of hub-c, a holder of the topology: %v; want it refused", err)
	}
	q.SetServers(topo{"hub-a": "127.0.0.1"}) // hub-c renamed: gone from the topology
	owners, err := q.ForgetDatabaseID("db-c")
	if err != nil || len(owners) != 1 || owners[0] != "hub-c" {
		t.Fatalf("ForgetDatabaseID(db-c) of a holder no message here has a copy on = %v, %v; want [hub-c]", owners, err)
	}
	// A primary presenting it now is not refused as another's.
	if _, err := pushCopy(ctx, q, s, "hub-a", "db-c"); err != nil {
		t.Fatalf("hub-a presenting the forgotten holder id: %v", err)
	}
	if _, err := q.ForgetDatabaseID("db-c"); !errors.Is(err, ErrNotApplicable) {
		t.Fatalf("forgetting the id hub-a's record holds now: %v; want it refused", err)
	}
}
