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

// SR-15, SR-17 (sr1749, the XDISCARD sibling of an XQUERYDISCARD reply's
// mark): a push of the discards a primary owes (a stop's, or a hand-over
// before a 250: handDiscards) presents its rollback mark in its XSHADOW,
// read when the session opens; the holder keeps a pushed discard that
// comes before its copy under it. A copy committed at the primary after
// that read and delivered before the listing (its results set aside,
// committed by the listing's own commitAside) had its discard pushed
// under a mark below its copy's: the holder, meeting the copy's push
// afterwards, took it for a new copy and kept it — a copy no discard
// settles, delivered a second time when the primary is lost. The pusher
// presents again, before XDISCARD, the mark read with the listing.
func TestDiscardPushPresentsListingMark(t *testing.T) {
	holder, hq := stopHolder(t)
	st, err := queue.Open(filepath.Join(t.TempDir(), "queue.db"), queue.Options{DeferLimit: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	q := queue.NewManager(st, queue.DelivererFunc(func(context.Context, *queue.Message, []byte, []int) []queue.Result { return nil }), queue.ManagerConfig{})
	body := []byte("Subject: x\r\n\r\nx\r\n")
	newCopy := func(org string) *queue.Message {
		return &queue.Message{From: "s@example.org", State: queue.Ready, OrgID: org, ShadowServer: "hub-a", ShadowID: org,
			Rcpts: []queue.Recipient{{Addr: "y@remote.example"}}}
	}
	first := orgid.New()
	if err := st.Update(context.Background(), func(tx *queue.Tx) error {
		for range 5 { // hub-b's copies on hub-a: its mark for hub-a is 5
			if err := tx.PutNew(newCopy(orgid.New()), body); err != nil {
				return err
			}
		}
		return tx.AddDiscard("hub-a", first, time.Now()) // owed: the push goes
	}); err != nil {
		t.Fatal(err)
	}
	topo, err := routing.NewTopology(routing.TopologyInput{
		Sites: []routing.Site{{Name: "a"}, {Name: "b"}},
		Links: []routing.SiteLink{{Name: "a-b", Sites: []string{"a", "b"}, Cost: 1}},
		Servers: []routing.Server{{Name: "hub-a", Role: routing.RoleHub, Site: "a", Address: holder},
			{Name: "hub-b", Role: routing.RoleHub, Site: "b", Address: "127.0.0.1:1"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	d, err := New(Config{Hostname: "hub-b.test", Routing: routing.NewTable(nil, nil), Topology: topo, LocalServer: "hub-b",
		ShadowServerID: "hub-b", Resolver: &fakeDNS{}, ConnectTimeout: 2 * time.Second, CommandTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	NewReceiptShadow(d, "db-b").WithHolders(q)

	// A message copied on hub-a (mark 6) and delivered at once, its
	// commit and results set aside: the push's session presents 5, its
	// listing commits them.
	late := orgid.New()
	var lateMark uint64
	committed := make(chan error, 1)
	st.UpdateLater(func(tx *queue.Tx) error {
		m := newCopy(late)
		if err := tx.PutNew(m, body); err != nil {
			return err
		}
		lateMark = m.HolderMark
		return tx.AddDiscard("hub-a", late, time.Now())
	}, func(err error) { committed <- err })

	d.PushOwedDiscards(context.Background(), q, StopPushPerServer)
	if err := <-committed; err != nil {
		t.Fatal(err)
	}
	if lateMark != 6 {
		t.Fatalf("the late copy's mark: %d, want 6", lateMark)
	}
	if servers, err := q.OwedDiscardServers(); err != nil || len(servers) != 0 {
		t.Fatalf("after the push hub-b still owes %q (%v): the late discard was not pushed, the test proves nothing", servers, err)
	}
	// The late copy's push reaches hub-a now, with its own mark.
	m := &queue.Message{From: "s@example.org", OrgID: late, Rcpts: []queue.Recipient{{Addr: "y@remote.example"}}}
	res, err := hq.SubmitShadowCopiesMarked(context.Background(), []queue.ShadowCopy{{M: m, Body: queue.MemBody(body), Mark: lateMark}},
		"hub-b", "127.0.0.1:1", "db-b", lateMark)
	if err != nil || res[0].Err != nil {
		t.Fatalf("the late copy's push: %+v, %v", res, err)
	}
	if res[0].Stored {
		t.Fatal("hub-a kept the copy (mark 6) whose discard hub-b pushed before it came: pushed under the session's mark 5, the discard was taken for an older copy's, and no discard will ever settle this one")
	}
}
