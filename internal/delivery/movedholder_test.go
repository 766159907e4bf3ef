package delivery

import (
	"context"
	"errors"
	"fmt"
	"net"
	"testing"

	"umbra/internal/config"
	"umbra/internal/queue"
	"umbra/internal/routing"
	"umbra/internal/testsupport"
)

// movedListener listens on 127.0.0.131, on a free port of 37500-37999.
func movedListener(t *testing.T) net.Listener {
	t.Helper()
	for p := 37500; p < 38000; p++ {
		if ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.131:%d", p)); err == nil {
			return ln
		}
	}
	t.Fatal("no free port in 37500-37999 on 127.0.0.131")
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
