package smtp

import (
	"slices"
	"sync"
	"testing"

	"umbra/internal/routing"
)

// forgettableOwners is ownersQueue whose owners the test changes between
// sessions (umbra shadow forget-database).
type forgettableOwners struct {
	ownersQueue
	omu sync.Mutex
}

func (q *forgettableOwners) ShadowDatabaseOfAnother(server, dbID string) (string, error) {
	q.omu.Lock()
	defer q.omu.Unlock()
	return q.ownersQueue.ShadowDatabaseOfAnother(server, dbID)
}

// SR-7: this server's refusal of hub2's shadow session marks
// hub2 refused (server:refused:hub2). The README says the mark lasts
// "until a session of it presenting an id of its own is let in": after
// `umbra shadow forget-database dbB` hub2's session presenting dbB is
// let in — and the mark stays; nothing on the inbound side clears it.
func TestSR7RefusedMarkClearedWhenSessionLetInAgain(t *testing.T) {
	q := &forgettableOwners{ownersQueue: ownersQueue{markQueue: markQueue{mark: 5}, owners: map[string]string{"dbB": "hub3"}}}
	s := startShadowServer(t, q, newPartialShadow(), true, transportConnector(t, ""))
	h := &refusalHealth{}
	s.SetPeerHealth(h)
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO hub2.test", "250")
	d.cmd(authHub2, "235")
	d.cmd("XSHADOW hub2 MARK DB=dbB", "550 5.7.1")
	d.cmd("QUIT", "221")
	h.mu.Lock()
	marked := len(h.marked)
	h.mu.Unlock()
	if marked != 1 {
		t.Fatalf("marks %d; want hub2 marked", marked)
	}
	q.omu.Lock()
	delete(q.owners, "dbB") // the operator forgot the id: it is hub2's own now
	q.omu.Unlock()
	d = dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO hub2.test", "250")
	d.cmd(authHub2, "235")
	d.cmd("XSHADOW hub2 MARK DB=dbB", "250")
	d.cmd("QUIT", "221")
	h.healthRecord.mu.Lock()
	defer h.healthRecord.mu.Unlock()
	for _, ks := range h.healthRecord.keys {
		if slices.Contains(ks, RefusedPeerKeyPrefix+"hub2") {
			return
		}
	}
	t.Fatalf("hub2's session presenting an id of its own was let in, and %shub2 was never cleared (Responsive calls %q): queue destinations keeps showing it refused",
		RefusedPeerKeyPrefix, h.healthRecord.keys)
}

// SR-7: the mark takes the server id as the client spelt
// it (startShadow matches it to the account case-insensitively), while
// delivery reads and clears refusedKey(topology name): "XSHADOW HUB2"
// from hub2 marks a key nothing else reads or clears.
func TestSR7RefusedMarkUnderTheTopologyName(t *testing.T) {
	q := &ownersQueue{markQueue: markQueue{mark: 5}, owners: map[string]string{"dbB": "hub3"}}
	s := startShadowServer(t, q, newPartialShadow(), true, transportConnector(t, ""))
	topo, err := routing.NewTopology(routing.TopologyInput{Sites: []routing.Site{{Name: "s1"}},
		Servers: []routing.Server{{Name: "hub2", Role: routing.RoleHub, Site: "s1", Address: "127.0.0.1:25"}}})
	if err != nil {
		t.Fatal(err)
	}
	s.SetServers(topo)
	h := &refusalHealth{}
	s.SetPeerHealth(h)
	d := dial(t, s, "")
	d.expect("220")
	d.cmd("EHLO hub2.test", "250")
	d.cmd(authHub2, "235")
	d.cmd("XSHADOW HUB2 MARK DB=dbB", "550 5.7.1")
	d.cmd("QUIT", "221")
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, m := range h.marked {
		if m[len(m)-len(RefusedPeerKeyPrefix+"hub2"):] == RefusedPeerKeyPrefix+"hub2" {
			return
		}
	}
	t.Fatalf("marks %q; want %shub2, the key delivery reads and clears", h.marked, RefusedPeerKeyPrefix)
}
