package delivery

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"umbra/internal/clock"
	"umbra/internal/config"
	"umbra/internal/queue"
	"umbra/internal/routing"
	"umbra/internal/testsupport"
)

// copyPeer is a hub that takes shadow sessions (XSHADOW, verbs version
// 3) and answers reply to each copy's data: "250 …" keeps it, "452
// 4.3.1 …" is a hub whose disk is full. It counts the copies it was
// sent.
func copyPeer(t *testing.T, addr, reply string) (string, *atomic.Int32) {
	h := testsupport.StartHub(t, addr, testsupport.HubScript{DataReply: reply})
	return h.Addr(), &h.Copies
}

const fullReply = "452 4.3.1 Insufficient system storage, try again later"

// fullTopology: hub-a (this server, site a) and, in site b, hub-b whose
// disk is full and hub-c that keeps copies.
func fullTopology(t *testing.T) (*Deliverer, *atomic.Int32, *atomic.Int32, string) {
	t.Helper()
	bAddr, bCopies := copyPeer(t, "127.0.0.2:0", fullReply)
	cAddr, cCopies := copyPeer(t, "127.0.0.3:0", "250 2.0.0 kept")
	topo, err := routing.NewTopology(routing.TopologyInput{
		Sites: []routing.Site{{Name: "a"}, {Name: "b"}},
		Links: []routing.SiteLink{{Name: "a-b", Sites: []string{"a", "b"}, Cost: 1}},
		Servers: []routing.Server{{Name: "hub-a", Role: routing.RoleHub, Site: "a", Address: "127.0.0.1:25"},
			{Name: "hub-b", Role: routing.RoleHub, Site: "b", Address: bAddr},
			{Name: "hub-c", Role: routing.RoleHub, Site: "b", Address: cAddr}},
	})
	if err != nil {
		t.Fatal(err)
	}
	d, err := New(Config{Hostname: "hub-a.test", Routing: routing.NewTable(nil, nil), Resolver: &fakeDNS{},
		Topology: topo, LocalServer: "hub-a", ShadowServerID: "hub-a", ShadowRetriesRemote: 4, ShadowRetriesLocal: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d, bCopies, cCopies, bAddr
}

// rt30 F2: a shadow server whose disk is full answers 452 4.3.1 to each
// copy, though it answers the session (and heartbeats, and probes). Its
// refusal is a failed try: destination health marks it for copies — an
// answered session or probe does not clear that mark, only a copy it
// keeps does — so the next copies go to the other candidate of its site
// first, whatever the rotation, and the made-again pass moves on from
// it to that candidate within the same pass.
func TestReceiptCopyRefusedByFullPeerMovesOn(t *testing.T) {
	d, bCopies, cCopies, bAddr := fullTopology(t)
	r := NewReceiptShadow(d, "db-a")
	defer r.Close()
	m := &queue.Message{ID: 1, OrgID: "0123456789abcdef0123456789abcdef", From: "a@example.org",
		Rcpts: []queue.Recipient{{Addr: "b@example.net"}}}
	body := queue.MemBody([]byte("Subject: x\r\n\r\nhi\r\n"))
	// Open until the rotation puts hub-b first, and push there.
	var link interface {
		Server() string
		Push(context.Context, *queue.Message, queue.Body) error
		Done(bool)
	}
	for range 4 {
		l, err := r.Open(context.Background(), config.ShadowOnReceiptPreferRemote)
		if err != nil {
			t.Fatal(err)
		}
		if l.Server() == "hub-b" {
			link = l
			break
		}
		l.Done(true)
	}
	if link == nil {
		t.Fatal("4 copies never chose hub-b first: the rotation does not spread copies over the site's servers")
	}
	err := link.Push(context.Background(), m, body)
	link.Done(err == nil)
	if err == nil || !strings.Contains(err.Error(), "452") {
		t.Fatalf("push to the full hub-b: %v; want its 452", err)
	}
	if n := bCopies.Load(); n != 1 {
		t.Errorf("hub-b was sent the refused copy %d times, want once (a refusal is not a broken session)", n)
	}
	// hub-b answers a probe (and heartbeats would answer too): still
	// not healthy for copies.
	if _, err := r.Probe(context.Background(), "hub-b"); err != nil {
		t.Fatalf("probe of hub-b: %v", err)
	}
	for i := range 4 {
		l, err := r.Open(context.Background(), config.ShadowOnReceiptPreferRemote)
		if err != nil {
			t.Fatal(err)
		}
		if l.Server() != "hub-c" {
			t.Fatalf("copy %d after hub-b's refusal chose %s, want hub-c (hub-b refuses copies)", i, l.Server())
		}
		l.Done(true)
	}
	if !d.health.Unhealthy(copiesKey("hub-b")) || d.health.Unhealthy("hub-b", bAddr) {
		t.Errorf("health marks: copies %v, server %v; want hub-b marked for copies only (it answers sessions)",
			d.health.Unhealthy(copiesKey("hub-b")), d.health.Unhealthy("hub-b", bAddr))
	}
	_ = cCopies
}

// rt30 F2, the made-again pass: a message held by this server only
// whose copy the first candidate refuses is copied to the next one in
// the same pass (up to the retry budgets), and message show names the
// refusal, not a lost copy.
func TestRecopyRefusedMovesToNextCandidate(t *testing.T) {
	d, bCopies, cCopies, _ := fullTopology(t)
	r := NewReceiptShadow(d, "db-a")
	defer r.Close()
	clk := clock.NewFake(time.Now())
	s, q := openQueue(t, clk)
	for i := range 4 {
		m := &queue.Message{OrgID: strings.Repeat("0", 31) + string(rune('1'+i)), From: "a@example.org",
			Rcpts: []queue.Recipient{{Addr: "b@example.net"}}, NoCopy: true}
		if err := q.Submit(context.Background(), m, []byte("Subject: x\r\n\r\nhi\r\n")); err != nil {
			t.Fatal(err)
		}
		if err := s.Update(context.Background(), func(tx *queue.Tx) error { // its attempt deferred: waiting
			o, err := tx.Get(m.ID)
			if err != nil {
				return err
			}
			o.State = queue.Ready
			return tx.Put(o)
		}); err != nil {
			t.Fatal(err)
		}
		// No mark (as after a restart), the rotation putting hub-b
		// first for every other message: the pass must move on from it.
		d.health.Responsive(copiesKey("hub-b"))
		r.next.Store(uint64(i))
		srv, err := r.Recopy(context.Background(), q, m.ID, nil)
		if err != nil || srv != "hub-c" {
			t.Fatalf("message %d made again on %q: %v; want hub-c after hub-b's refusal", i, srv, err)
		}
	}
	if b, c := bCopies.Load(), cCopies.Load(); b != 2 || c != 4 {
		t.Errorf("copies sent: hub-b %d, hub-c %d; want 2 (every other message tried it first) and 4", b, c)
	}
}

// rt30 F2, the relay path: a hub whose disk is full answers 452 4.3.1 to
// a relay too, though it answers sessions and heartbeats. The refusal
// marks it for copies (its disk takes nothing), so the next attempts
// relay to the other hub of its site first, instead of the balanced
// order sending every other attempt to the full hub.
func TestRelayRefusedForStorageTriesOtherHubFirst(t *testing.T) {
	bAddr, bGot := copyPeer(t, "127.0.0.2:0", fullReply)
	cAddr, cGot := copyPeer(t, "127.0.0.3:0", "250 2.0.0 queued")
	topo, err := routing.NewTopology(routing.TopologyInput{
		Sites: []routing.Site{{Name: "a"}, {Name: "b"}},
		Links: []routing.SiteLink{{Name: "a-b", Sites: []string{"a", "b"}, Cost: 1}},
		Servers: []routing.Server{{Name: "hub-a", Role: routing.RoleHub, Site: "a", Address: "127.0.0.1:25"},
			{Name: "hub-b", Role: routing.RoleHub, Site: "b", Address: bAddr},
			{Name: "hub-c", Role: routing.RoleHub, Site: "b", Address: cAddr}},
		Connectors: []routing.SendConnector{{Name: "far", AddressSpaces: []routing.AddressSpace{{Domain: "far.example", Cost: 1}},
			SourceServers: []string{"hub-b", "hub-c"}, Enabled: true}},
	})
	if err != nil {
		t.Fatal(err)
	}
	d, err := New(Config{Hostname: "hub-a.test", Routing: routing.NewTable(nil, nil), Resolver: &fakeDNS{},
		Topology: topo, LocalServer: "hub-a"})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	refusedAt := -1
	for i := range 6 {
		m := message("x@far.example")
		res := d.Deliver(context.Background(), m, body, all(m))
		if len(res) != 1 {
			t.Fatalf("attempt %d: results %+v", i, res)
		}
		if res[0].Outcome == queue.Deferred && strings.Contains(res[0].Reply, "4.3.1") {
			if refusedAt >= 0 {
				t.Fatalf("attempt %d relayed to the full hub-b again (refused first at attempt %d): %+v", i, refusedAt, res[0])
			}
			refusedAt = i
		}
	}
	if b, c := bGot.Load(), cGot.Load(); b > 1 || c < 5 {
		t.Errorf("relays: full hub-b %d, hub-c %d; want hub-b at most once", b, c)
	}
}
