package queue

import (
	"errors"
	"testing"

	"umbra/internal/orgid"
)

// rt20c-F1 (SR-7): hub-b is both a primary of copies kept here (its
// record at 127.0.0.2) and the shadow server of messages held here,
// database db-b. A topology that spells it anew (hub-b2 at the same
// address) makes hub-b's record look like one kept under a send
// connector's host name whose copies went to hub-b2's address; still,
// db-b answered by hub-b2 is not recorded under the second name: a
// shadow server's recorded id names a server of the topology (now or
// before), never a connector's host name. Nothing is marked lost and
// hub-b's record keeps its id.
func TestHolderIDOfOneNameNotRecordedUnderASecond(t *testing.T) {
	s := openTest(t)
	q, ctx := newPeerDBManager(t, s, topo{"hub-a": "127.0.0.1", "hub-b": "127.0.0.2"}, nil)
	c := msg(s, "b@example.org", "y@b.example")
	c.OrgID = orgid.New()
	if _, err := q.SubmitShadowCopy(ctx, c, []byte(body), "hub-b", "127.0.0.2:25", "db-b"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := q.ShadowHolderSeen("hub-b", "db-b"); err != nil {
		t.Fatal(err)
	}
	q.SetServers(topo{"hub-a": "127.0.0.1", "hub-b2": "127.0.0.2"})
	var other *DatabaseOfAnotherError
	lost, old, err := q.ShadowHolderSeen("hub-b2", "db-b")
	if !errors.As(err, &other) || other.Other != "hub-b" || lost != 0 || old != "" {
		t.Fatalf("hub-b2 answering with hub-b's id: lost %d, old %q, %v; want it refused as hub-b's", lost, old, err)
	}
	if id, err := q.ShadowHolderID("hub-b2"); err != nil || id != "" {
		t.Fatalf("hub-b2's stored id %q, %v; want none", id, err)
	}
	if id, err := q.ShadowHolderID("hub-b"); err != nil || id != "db-b" {
		t.Fatalf("hub-b's stored id %q, %v; want db-b", id, err)
	}
}
