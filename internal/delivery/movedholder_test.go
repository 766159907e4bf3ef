package delivery

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"umbra/internal/clock"
	"umbra/internal/config"
	"umbra/internal/queue"
	"umbra/internal/routing"
	"umbra/internal/testsupport"
)

// movedListener listens on 127.0.0.131, on a free port of 7500-7999.
func movedListener(t *testing.T) net.Listener {
	t.Helper()
	for p := 7500; p < 8000; p++ {
		if ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.131:%d", p)); err == nil {
			return ln
		}
	}
	t.Fatal("no free port in 7500-7999 on 127.0.0.131")
	return nil
}

// movedTopology is hub-a (this server) in site a and hub-b at addr in
// site b.
func movedTopology(t *testing.T, addr string) *routing.Topology {
	t.Helper()
	topo, err := routing.NewTopology(routing.TopologyInput{
		Sites: []routing.Site{{Name: "a"}, {Name: "b"}},
		Links: []routing.SiteLink{{Name: "a-b", Sites: []string{"a", "b"}, Cost: 1}},
		Servers: []routing.Server{{Name: "hub-a", Role: routing.RoleHub, Site: "a", Address: "127.0.0.131:25"},
			{Name: "hub-b", Role: routing.RoleHub, Site: "b", Address: addr}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return topo
}

// SR-6, SR-17 (rr recopy39): a copy on receipt, a copy made again and
// the holder probe reach a shadow server by one route — the address the
// configuration in force gives it. A reload that moves hub-b's address
// (here to one where nothing answers) left the session of copies opened
// to its old address in the pool of copies on receipt, and copies went
// on over it while every probe of hub-b dialled the new one and failed:
// after the takeover bound the primary took hub-b's copies as lost, the
// same pass made them again on hub-b over the old session, and the next
// pass took them as lost again — a WARN and a copy every pass, for as
// long as the session lived (each copy kept it from going idle). The
// delivery pool ends its idle sessions at a reload; the pool of copies
// hands out only a session opened under the configuration in force.
func TestSR6CopyAfterReloadGoesWhereTheProbeGoes(t *testing.T) {
	deadLn := movedListener(t)
	dead := deadLn.Addr().String()
	hubLn := movedListener(t)
	hubAddr := hubLn.Addr().String()
	deadLn.Close() // nothing listens there
	hubLn.Close()
	hub := testsupport.StartHub(t, hubAddr, testsupport.HubScript{DataReply: "250 2.0.0 kept"})
	cfg := Config{Hostname: "hub-a.test", Routing: routing.NewTable(nil, nil), Resolver: &fakeDNS{},
		Topology: movedTopology(t, hub.Addr()), LocalServer: "hub-a", ShadowServerID: "hub-a", ShadowRetriesRemote: 2, ShadowRetriesLocal: 2}
	d, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	r := NewReceiptShadow(d, "db-a")
	defer r.Close()
	m := &queue.Message{ID: 1, OrgID: "0123456789abcdef0123456789abcdef", From: "a@example.org",
		Rcpts: []queue.Recipient{{Addr: "b@example.net"}}}
	body := queue.MemBody([]byte("Subject: x\r\n\r\nhello\r\n"))
	push := func() error {
		l, err := r.OpenFor(context.Background(), config.ShadowOnReceiptPreferRemote, m, body, false)
		if err != nil {
			return err
		}
		err = l.Push(context.Background(), m, body)
		l.Done(err == nil)
		return err
	}
	if err := push(); err != nil {
		t.Fatal(err) // the session stays in the pool
	}
	if n := hub.Copies.Load(); n != 1 {
		t.Fatalf("hub-b kept %d copies, want 1", n)
	}

	cfg.Topology = movedTopology(t, dead)
	if err := d.Reload(cfg); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Probe(context.Background(), "hub-b"); err == nil {
		t.Fatal("probe of hub-b at an address where nothing listens succeeded")
	}
	err = push()
	if err == nil || !errors.Is(err, ErrNoShadowServer) {
		t.Errorf("copy after the reload: %v; want no shadow server (hub-b's address is dead, as its probe found)", err)
	}
	if n := hub.Copies.Load(); n != 1 {
		t.Errorf("hub-b kept %d copies after its address moved to a dead one, want 1: copies went over the session to its old address, which its probes do not take", n)
	}
}

// SR-6, SR-17 (rr recopy39, the class): a copy taken as lost because no
// probe reached its holder for the takeover bound (queue
// HowUnreachable, the holder kept as one that may hold it) is made
// again elsewhere, never on that holder: pushed there — by any route a
// probe does not take — the next pass, its probes still failing, took
// it as lost again, and so at every pass. The mark stands (shown by
// shadow single, told once) until a probe reaches the holder, which
// holds the copy (shadow.Holders: HolderAnswered), or another server
// takes it.
func TestSR6CopyTakenAsLostOnUnreachedHolderIsNotMadeThereAgain(t *testing.T) {
	hubLn := movedListener(t)
	hubAddr := hubLn.Addr().String()
	hubLn.Close()
	hub := testsupport.StartHub(t, hubAddr, testsupport.HubScript{DataReply: "250 2.0.0 kept"})
	_, q := openQueue(t, clock.NewFake(time.Now()))
	d, err := New(Config{Hostname: "hub-a.test", Routing: routing.NewTable(nil, nil), Resolver: &fakeDNS{},
		Topology: movedTopology(t, hub.Addr()), LocalServer: "hub-a", ShadowServerID: "hub-a", ShadowRetriesRemote: 2, ShadowRetriesLocal: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	r := NewReceiptShadow(d, "db-a")
	t.Cleanup(r.Close)
	m := &queue.Message{OrgID: strings.Repeat("0", 31) + "9", From: "a@example.org",
		Rcpts: []queue.Recipient{{Addr: "b@example.net"}}}
	if err := q.Submit(context.Background(), m, []byte("Subject: x\r\n\r\nhi\r\n")); err != nil {
		t.Fatal(err)
	}
	// Its copy made on hub-b (the only candidate).
	if err := q.MarkSingleCopy(m.ID, "", ""); err != nil {
		t.Fatal(err)
	}
	if srv, err := r.Recopy(context.Background(), q, m.ID, nil); err != nil || srv != "hub-b" {
		t.Fatalf("first copy: on %q (%v), want hub-b", srv, err)
	}
	// hub-b's probes fail for the bound: its copy is taken as lost.
	if n, err := q.ShadowHolderUnreachable("hub-b", time.Now().Add(-time.Minute)); err != nil || n != 1 {
		t.Fatalf("taken as lost: %d (%v), want 1", n, err)
	}
	for pass := range 3 {
		srv, err := r.Recopy(context.Background(), q, m.ID, nil)
		if srv != "" || err == nil {
			t.Fatalf("pass %d: made again on %q (%v), want not made: hub-b, the holder no probe reaches, is the only candidate", pass, srv, err)
		}
		if !strings.Contains(err.Error(), "hub-b") {
			t.Errorf("pass %d: the error does not say why hub-b was passed over: %v", pass, err)
		}
		if sc, ok := q.SingleCopyOf(m.ID); !ok || sc.How != queue.HowUnreachable {
			t.Fatalf("pass %d: mark %+v (%v), want the unreachable holder's", pass, sc, ok)
		}
	}
	if n := hub.Copies.Load(); n != 1 {
		t.Errorf("hub-b was pushed %d copies, want 1: a copy taken as lost there was made there again", n)
	}
	if n, err := q.ShadowHolderUnreachable("hub-b", time.Now().Add(-time.Minute)); err != nil || n != 0 {
		t.Errorf("the next pass took %d copies as lost again (%v), want 0", n, err)
	}
}
