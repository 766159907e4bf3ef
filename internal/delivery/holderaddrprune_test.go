package delivery

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"umbra/internal/orgid"
	"umbra/internal/queue"
	"umbra/internal/routing"
)

// deliveredBetween is the primary's queue whose message m is delivered
// (its record gone, the discard for its holder written, in one commit, as
// a delivery's commit does) between the holders' pass reading the owed
// discards and reading the holders of queued messages — a delivery
// committing while the pass runs.
type deliveredBetween struct {
	*queue.Manager
	st     *queue.Store
	id     queue.ID
	holder string
	sid    string
	done   bool
}

func (w *deliveredBetween) ShadowHolders() (map[string]int, error) {
	if !w.done {
		w.done = true
		if err := w.st.Update(context.Background(), func(tx *queue.Tx) error {
			if err := tx.Delete(w.id); err != nil {
				return err
			}
			return tx.AddDiscard(w.holder, w.sid, time.Now())
		}); err != nil {
			return nil, err
		}
	}
	return w.Manager.ShadowHolders()
}

// SR-15: the holders' pass (Stale) forgets the recorded
// address of a former holder once it is owed nothing and holds nothing
// (pruneHolderAddrs) — but reads "owed" before "held", each in a view of
// its own. A message held on hub-b (no longer in the topology) delivered
// between the two reads is in neither: hub-b's address is forgotten while
// the discard of that message is owed to it, so no pass or stop ever
// pushes it, and hub-b takes the message over when this server dies — a
// duplicate delivery. Reading held first, owed second closes it (a
// delivery's commit writes the discard as the record goes).
func TestSR15HolderAddrNotForgottenWhileItsDiscardIsWritten(t *testing.T) {
	st, err := queue.Open(filepath.Join(t.TempDir(), "queue.db"), queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	q := queue.NewManager(st, queue.DelivererFunc(func(context.Context, *queue.Message, []byte, []int) []queue.Result { return nil }), queue.ManagerConfig{})
	oid := orgid.New()
	m := &queue.Message{ID: st.NewID(time.Now()), From: "s@example.org", OrgID: oid, ShadowServer: "hub-b", ShadowID: oid,
		Rcpts: []queue.Recipient{{Addr: "y@remote.example"}}}
	if err := q.Submit(context.Background(), m, []byte("Subject: x\r\n\r\nx\r\n")); err != nil {
		t.Fatal(err)
	}
	if err := q.NoteHolderAddress("hub-b", "127.0.0.1:2"); err != nil {
		t.Fatal(err)
	}
	topo, err := routing.NewTopology(routing.TopologyInput{
		Sites: []routing.Site{{Name: "a"}, {Name: "b"}},
		Links: []routing.SiteLink{{Name: "a-b", Sites: []string{"a", "b"}, Cost: 1}},
		Servers: []routing.Server{{Name: "hub-p", Role: routing.RoleHub, Site: "a", Address: "127.0.0.1:1"},
			{Name: "hub-c", Role: routing.RoleHub, Site: "b", Address: "127.0.0.1:3"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	d, err := New(Config{Hostname: "hub-p.test", Routing: routing.NewTable(nil, nil), Topology: topo, LocalServer: "hub-p",
		ShadowServerID: "hub-p", Resolver: &fakeDNS{}, ConnectTimeout: 2 * time.Second, CommandTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	w := &deliveredBetween{Manager: q, st: st, id: m.ID, holder: "hub-b", sid: oid}
	r := NewReceiptShadow(d, q.DatabaseID()).WithHolders(w)
	Holders{R: r, Q: w}.Stale()
	owed, _ := q.OwedDiscardServers()
	addr, _ := q.HolderAddress("hub-b")
	if len(owed) == 1 && addr == "" {
		t.Fatalf("hub-b is owed a discard (%q) but its address was forgotten by the same pass: no push can reach it", owed)
	}
	if !w.done {
		t.Fatal("the pass did not read the holders")
	}
}
