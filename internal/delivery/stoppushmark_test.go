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

// racedOwed is the primary's owed discards; before it lists them, a copy
// of another session — committed at the primary after the stop's push
// read its mark — reaches the holder and raises the mark it stores for
// the primary.
type racedOwed struct {
	*queue.Manager
	raise func()
}

func (r *racedOwed) DiscardsPartialDelayed(server string, max int) ([]string, func()) {
	r.race()
	return r.Manager.DiscardsPartialDelayed(server, max)
}

// DiscardsPartialMarkedFor is the listing a push reads its mark with
// (markedlisting.go): the race comes before it too.
func (r *racedOwed) DiscardsPartialMarkedFor(name, digest string, max int, delayed bool) ([]string, uint64, func()) {
	r.race()
	return r.Manager.DiscardsPartialMarkedFor(name, digest, max, delayed)
}

func (r *racedOwed) race() {
	if r.raise != nil {
		r.raise()
		r.raise = nil
	}
}

// SR-15, SR-17, rrearlymark40: the stop's push of the discards a primary
// owes (XDISCARD) presents its rollback mark in its XSHADOW (MARK=<n>
// DB=<id>), as its sessions that push copies do: the holder keeps an
// early discard under it (queue AddEarlyDiscard). Pushed without one,
// the holder kept it under the mark it stored for the primary when the
// discard came — raised meanwhile by a copy of another session (7) —
// and a copy of the same org id committed at the primary after the
// discard (mark 6, above the push's 5) met it: answered 250, not kept,
// lost with the primary.
func TestStopPushPresentsMark(t *testing.T) {
	holder, hq := stopHolder(t)
	st, err := queue.Open(filepath.Join(t.TempDir(), "queue.db"), queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	q := queue.NewManager(st, queue.DelivererFunc(func(context.Context, *queue.Message, []byte, []int) []queue.Result { return nil }), queue.ManagerConfig{})
	oid := orgid.New()
	now := time.Now()
	if err := st.Update(context.Background(), func(tx *queue.Tx) error {
		for range 5 { // hub-b's copies on hub-a: its mark for hub-a is 5
			m := &queue.Message{From: "s@example.org", State: queue.Ready, Rcpts: []queue.Recipient{{Addr: "y@remote.example"}}, ShadowServer: "hub-a"}
			if err := tx.PutNew(m, []byte("Subject: x\r\n\r\nx\r\n")); err != nil {
				return err
			}
		}
		return tx.AddDiscard("hub-a", oid, now) // the push of oid's copy abandoned: hub-a never got it
	}); err != nil {
		t.Fatal(err)
	}
	if n := q.ShadowHolderMark("hub-a"); n != 5 {
		t.Fatalf("hub-b's mark for hub-a: %d, want 5", n)
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
	copyOf := func(org string, mark uint64) bool {
		t.Helper()
		m := &queue.Message{From: "s@example.org", OrgID: org, Rcpts: []queue.Recipient{{Addr: "y@remote.example"}}}
		res, err := hq.SubmitShadowCopiesMarked(context.Background(), []queue.ShadowCopy{{M: m, Body: queue.MemBody([]byte("Subject: x\r\n\r\nx\r\n"))}},
			"hub-b", "127.0.0.1:1", "db-b", mark)
		if err != nil || res[0].Err != nil {
			t.Fatalf("copy of %s at mark %d: %+v, %v", org, mark, res, err)
		}
		return res[0].Stored
	}
	owed := &racedOwed{Manager: q, raise: func() {
		if !copyOf(orgid.New(), 7) {
			t.Error("the other session's copy was not kept")
		}
	}}
	d.PushOwedDiscards(context.Background(), owed, StopPushPerServer)
	if owed.raise != nil {
		t.Fatal("the other session's copy was never made before the listing: the test proves nothing")
	}
	if servers, err := q.OwedDiscardServers(); err != nil || len(servers) != 0 {
		t.Fatalf("after the stop's push hub-b still owes %q (%v)", servers, err)
	}
	if !copyOf(oid, 6) {
		t.Fatal("a copy committed at hub-b after the discard (mark 6, above the push's 5) was not kept: the early discard was kept under the holder's stored 7")
	}
}
