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

// stopHolder runs hub-a, the holder of hub-b's copies: a real transport
// database and queue behind a real receive connector that trusts
// loopback (externally secured), which knows hub-b (it presented its
// database in a session, as a primary with copies here has). It returns
// hub-a's address and queue.
func stopHolder(t *testing.T) (string, *queue.Manager) {
	t.Helper()
	st, err := queue.Open(filepath.Join(t.TempDir(), "queue.db"), queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	q := queue.NewManager(st, queue.DelivererFunc(func(context.Context, *queue.Message, []byte, []int) []queue.Result { return nil }), queue.ManagerConfig{})
	if _, err := q.ShadowPresented("hub-b", "db-b", nil); err != nil {
		t.Fatal(err)
	}
	return startTransportServer(t, "hub-a", "hub-a.test", "holder.yaml", q, q), q
}

// Q-3, SR-6, SR-15: a stopping primary (hub-b) hands its holder (hub-a)
// the delay notes it owes (the delay DSN of a copy's message went from
// here: queue delaynote.go) with the partial and full discards, so that
// the holder, taking the copy over if hub-b does not come back, sends no
// second delay DSN. Both sides are real transport databases, the
// hand-over real SMTP (XDISCARD "<id> DELAYED", shadow verbs 19); the
// primary forgets each note once the holder committed it, as the partial
// discards. The holder keeps a real copy of the noted message: after the
// hand-over it is still held (shadowed) and marked delay-notified — a
// holder that read "<id> DELAYED" as two full discards (XDISCARD of 18)
// would have dropped it, and the test could not tell without the copy.
func TestStopHandsOverDelayNotes(t *testing.T) {
	holder, hq := stopHolder(t)
	oid := orgid.New()
	cp := &queue.Message{From: "s@example.org", OrgID: oid, Rcpts: []queue.Recipient{{Addr: "y@remote.example"}}}
	if stored, err := hq.SubmitShadowCopy(context.Background(), cp, []byte("Subject: x\r\n\r\nx\r\n"), "hub-b", "127.0.0.1:1", "db-b"); err != nil || !stored {
		t.Fatalf("the holder's copy: stored %v, %v", stored, err)
	}
	st, err := queue.Open(filepath.Join(t.TempDir(), "queue.db"), queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	q := queue.NewManager(st, queue.DelivererFunc(func(context.Context, *queue.Message, []byte, []int) []queue.Result { return nil }), queue.ManagerConfig{})
	now := time.Now()
	if err := st.Update(context.Background(), func(tx *queue.Tx) error {
		if err := tx.AddDelayNote("hub-a", oid, now); err != nil {
			return err
		}
		return tx.AddPartialDiscard("hub-a", "0123456789abcdef-d2", []string{"x@example.test"}, now)
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
	d.PushOwedDiscards(context.Background(), q, StopPushPerServer)
	if servers, err := q.OwedDiscardServers(); err != nil || len(servers) != 0 {
		lines, _ := q.DiscardsDelayed("hub-a", 10)
		t.Fatalf("after the stop's hand-over hub-b still owes %q: %q (%v); want the delay note handed over with the partial discard", servers, lines, err)
	}
	got, err := hq.Message(cp.ID)
	if err != nil {
		t.Fatalf("the holder's copy is gone after the stop's delay note (read as a full discard?): %v", err)
	}
	if !got.DelayNotified || got.Rcpts[0].Status != queue.Shadowed {
		t.Fatalf("the holder's copy: delay notified %v, status %v; want notified and still shadowed", got.DelayNotified, got.Rcpts[0].Status)
	}
}
