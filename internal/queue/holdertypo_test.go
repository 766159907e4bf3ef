package queue

import (
	"errors"
	"testing"
)

// SR-7, SR-17 (shadow26 item 4): this server's topology spells hub-b
// hub-b2 from the very first contact (hub-b states its own name, hub-b,
// in its XSHADOW reply: shadow verbs 20), so hub-b's database id was
// recorded under the typo. Once the topology is fixed, hub-b, stating
// hub-b, presents that id: the typo is no server of the topology, so the
// id is hub-b's — recorded under hub-b (its sessions no more refused as
// another server's), the typo's record gone. A second name that is still
// a server of the topology, or a server that does not state the name it
// is dialled under (a rename introduced later: the id stays the first
// name's, TestHolderIDOfOneNameNotRecordedUnderASecond), keeps the rule
// of before.
func TestHolderIDRecordedUnderTypoMovesToTopologyName(t *testing.T) {
	s := openTest(t)
	q, _ := newPeerDBManager(t, s, topo{"hub-a": "127.0.0.1", "hub-b2": "127.0.0.2"}, nil)
	if _, _, err := q.ShadowHolderSeenStated("hub-b2", "hub-b", "db-b"); err != nil {
		t.Fatal(err)
	}
	if id, _ := q.ShadowHolderID("hub-b2"); id != "db-b" {
		t.Fatalf("first contact under the typo: hub-b2's id %q, want db-b (the typo is the topology's name then)", id)
	}
	// Not stated as its own: refused as before, while the typo is a
	// server of the topology.
	q.SetServers(topo{"hub-a": "127.0.0.1", "hub-b2": "127.0.0.2", "hub-b": "127.0.0.2"})
	var other *DatabaseOfAnotherError
	if _, _, err := q.ShadowHolderSeenStated("hub-b", "hub-b", "db-b"); !errors.As(err, &other) || other.Other != "hub-b2" {
		t.Fatalf("hub-b with db-b while hub-b2 is still a server of the topology: %v; want refused as hub-b2's", err)
	}
	q.SetServers(topo{"hub-a": "127.0.0.1", "hub-b": "127.0.0.2"}) // the typo fixed
	if _, _, err := q.ShadowHolderSeenStated("hub-b", "", "db-b"); !errors.As(err, &other) {
		t.Fatalf("hub-b stating no name: %v; want refused as before (nothing says it is hub-b)", err)
	}
	lost, old, err := q.ShadowHolderSeenStated("hub-b", "hub-b", "db-b")
	if err != nil || lost != 0 || old != "" {
		t.Fatalf("hub-b stating hub-b with the id recorded under the fixed typo: lost %d, old %q, %v; want recorded, nothing lost", lost, old, err)
	}
	if id, _ := q.ShadowHolderID("hub-b"); id != "db-b" {
		t.Errorf("hub-b's id %q, want db-b", id)
	}
	if id, _ := q.ShadowHolderID("hub-b2"); id != "" {
		t.Errorf("the typo's id %q, want none", id)
	}
	if o, err := q.ShadowDatabaseOfAnother("hub-b", "db-b"); err != nil || o != "" {
		t.Errorf("db-b presented by hub-b: another server's (%q, %v); want hub-b's own", o, err)
	}
	if o, err := q.ShadowDatabaseOfAnother("hub-c", "db-b"); err != nil || o != "hub-b" {
		t.Errorf("db-b presented by hub-c: owner %q, %v; want hub-b", o, err)
	}
}
