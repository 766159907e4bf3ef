package smtp

import (
	"context"
	"log/slog"
	"net/netip"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"umbra/internal/clock"
	"umbra/internal/queue"
	"umbra/internal/routing"
)

// fakeHeld is a record of held servers: name → address ("host:port")
// and, after a space, the database id it keeps (none: "").
type fakeHeld map[string]string

func (f fakeHeld) HeldServerAt(name string, ip netip.Addr) (known, ok bool, dbID string) {
	rec, held := f[name]
	if !held {
		return false, false, ""
	}
	addr, dbID, _ := strings.Cut(rec, " ")
	ap, err := netip.ParseAddrPort(addr)
	return true, err == nil && ap.Addr() == ip, dbID
}

func (f fakeHeld) IsHeldServerAddress(ip netip.Addr) bool {
	for _, rec := range f {
		a, _, _ := strings.Cut(rec, " ")
		if ap, err := netip.ParseAddrPort(a); err == nil && ap.Addr() == ip {
			return true
		}
	}
	return false
}

// topologyRefusedCounter counts ShadowTopologyRefused.
type topologyRefusedCounter struct {
	nopObserver
	n atomic.Int64
}

func (o *topologyRefusedCounter) ShadowTopologyRefused() { o.n.Add(1) }

// departedServer is a server with an externally secured connector on
// 127.0.0.139 (no AUTH: XSHADOW is offered by the address alone) whose
// topology lists hub2 at 192.0.2.2 only.
func departedServer(t *testing.T, held HeldServers) (*Server, *syncBuffer, *topologyRefusedCounter, *clock.Fake) {
	t.Helper()
	return departedServerOn(t, held, freeAddrIn(t, "127.0.0.139", 9500, 10000),
		&fakeQueue{}, &fakeShadow{notes: map[string][]string{"hub-b": {"n1"}}})
}

// departedServerOn is departedServer bound to addr, with q and sh (a
// queue keeping marks and a shadow of version 10 read DB= of XSHADOW).
func departedServerOn(t *testing.T, held HeldServers, addr string, q Queue, sh ShadowVerbs) (*Server, *syncBuffer, *topologyRefusedCounter, *clock.Fake) {
	t.Helper()
	logs := &syncBuffer{}
	obs := &topologyRefusedCounter{}
	clk := clock.NewFake(time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC))
	conns := connectors(t, `
  - name: org
    bindings: ["`+addr+`"]
    remote_ranges: ["127.0.0.0/8"]
    externally_secured: true
    permissions: {anonymous: [submit], servers: [submit, relay, accept-xshadow]}
`)
	s, err := NewServer(ServerConfig{Hostname: "mx.test", Connectors: conns, Routing: testTable(),
		Queue: q, Shadow: sh, ShadowEnabled: true,
		Observer: obs, Log: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})), Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	topo, err := routing.NewTopology(routing.TopologyInput{Sites: []routing.Site{{Name: "s1"}},
		Servers: []routing.Server{{Name: "hub2", Role: routing.RoleHub, Site: "s1", Address: "192.0.2.2:25"}}})
	if err != nil {
		t.Fatal(err)
	}
	s.SetServers(topo)
	if held != nil {
		s.SetHeldServers(held)
	}
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	s.Serve()
	t.Cleanup(func() { ctx, cancel := contextWithTimeout(5 * time.Second); defer cancel(); s.Shutdown(ctx) })
	return s, logs, obs, clk
}

// departed42 (SR-6, rt42-shadow F1): a primary this server's topology
// no longer names, of which copies or notes are held here, is offered
// XSHADOW at the address the held record names and let in by it — for
// the verbs of what is its own here (discard queries), not for new
// copies or messages under a shadow id.
func TestSR6DepartedPrimaryLetInByItsHeldRecord(t *testing.T) {
	sh := newPartialShadow()
	sh.notes["hub-b"] = []string{"n1"}
	s, logs, obs, _ := departedServerOn(t, fakeHeld{"hub-b": "127.0.0.139:9999 db-b"}, freeAddrIn(t, "127.0.0.139", 9500, 10000), &markQueue{mark: 5}, sh)
	d := dial(t, s, "127.0.0.139")
	d.expect("220")
	if ehlo := d.cmd("EHLO hub-b", "250"); !offersKeyword(ehlo, "XSHADOW") {
		t.Fatalf("XSHADOW not offered at the held record's address:\n%s", ehlo)
	}
	d.cmd("XSHADOW hub-x", "550 5.7.1 Server id is not a server of the organisation") // no record names it
	d.cmd("XSHADOW hub-b MARK DB=db-b", "250 db-0123456789abcdef")
	d.cmd("XQUERYDISCARD 5", "250 n1")
	d.cmd("MAIL FROM:<> XSHADOWCOPY=db-00000000000000000001", "550 5.7.1")
	d.cmd("MAIL FROM:<a@example.org> XSHADOW=s-1", "550 5.7.1")
	d.cmd("QUIT", "221")
	if w := logs.lines("level=WARN"); len(w) != 1 || !strings.Contains(w[0], "server_id=hub-x") || !strings.Contains(w[0], "not in this server's topology") {
		t.Fatalf("WARNs %q, want one naming hub-x as not in this server's topology", w)
	}
	if n := obs.n.Load(); n != 1 {
		t.Fatalf("%d topology refusals counted, want 1 (hub-x's)", n)
	}
}

// The held record binds the address: a session stating a held server's
// name from another address is refused, and without a record the
// address gets no XSHADOW at all (never opened to an address no held
// record names).
func TestSR6DepartedPrimaryBoundToItsRecordsAddress(t *testing.T) {
	s, _, _, _ := departedServer(t, fakeHeld{"hub-b": "192.0.2.9:25"})
	d := dial(t, s, "127.0.0.139")
	d.expect("220")
	if ehlo := d.cmd("EHLO hub-b", "250"); offersKeyword(ehlo, "XSHADOW") {
		t.Fatalf("XSHADOW offered to an address no held record names:\n%s", ehlo)
	}
	d.cmd("XSHADOW hub-b", "550 5.7.1")
	d.cmd("QUIT", "221")
}

// A session turned away for a name the topology does not know, and of
// which nothing is held, is WARNed once a minute per name, the others
// at DEBUG and counted on the next WARN; each is counted.
func TestShadowSessionNotInTopologyWarnedOncePerMinute(t *testing.T) {
	s, logs, obs, clk := departedServer(t, fakeHeld{})
	refuse := func(name string) {
		t.Helper()
		d := dial(t, s, "127.0.0.139")
		d.expect("220")
		d.cmd("EHLO "+name, "250")
		d.cmd("XSHADOW "+name, "550 5.7.1")
		d.cmd("QUIT", "221")
	}
	refuse("hub-c")
	refuse("hub-c")
	refuse("hub-d")
	if w := logs.lines("level=WARN"); len(w) != 2 {
		t.Fatalf("WARNs %q, want one each for hub-c and hub-d", w)
	}
	clk.Advance(time.Minute + time.Second)
	refuse("hub-c")
	if w := logs.lines("level=WARN"); len(w) != 3 || !strings.Contains(w[2], "server_id=hub-c") || !strings.Contains(w[2], "refused_since_last_warning=1") {
		t.Fatalf("WARNs %q, want a third for hub-c a minute on, counting the one not WARNed", w)
	}
	if n := obs.n.Load(); n != 4 {
		t.Fatalf("%d topology refusals counted, want 4", n)
	}
}

// rrdeparted42 (SR-6, SR-13): the address of a server the topology
// dropped is no proof that a session from it is that server's — the
// server may be decommissioned and its address given to another host, a
// client on the externally secured connector. Such a session would
// fetch and acknowledge (drop) the departed server's discards and claim
// its copies done: a copy discarded by a non-server, lost if the primary
// then dies. So the held record binds the database id too: a session at
// the record's address is the departed server's only when its XSHADOW
// presents the transport database id the record keeps (DB=); one
// presenting another id, or none, or stating a server whose record keeps
// no id, is refused and opens no shadow session.
func TestSR6DepartedPrimaryMustPresentItsHeldDatabaseID(t *testing.T) {
	sh := newPartialShadow()
	sh.notes["hub-b"] = []string{"n1"}
	held := fakeHeld{"hub-b": "127.0.0.147:25 db-b", "hub-e": "127.0.0.147:25"}
	s, _, _, _ := departedServerOn(t, held, freeAddrIn(t, "127.0.0.147", 10000, 10500), &markQueue{mark: 5}, sh)
	d := dial(t, s, "127.0.0.147")
	d.expect("220")
	d.cmd("EHLO client.example", "250")
	for _, c := range []string{"XSHADOW hub-b", "XSHADOW hub-b MARK", "XSHADOW hub-b MARK DB=db-other", "XSHADOW hub-e MARK DB=db-e", "XSHADOW hub-e"} {
		d.cmd(c, "550 5.7.1")
		d.cmd("XQUERYDISCARD 5", "5") // no shadow session: nothing fetched
	}
	d.cmd("XSHADOW hub-b MARK DB=db-b", "250")
	if got := d.cmd("XQUERYDISCARD 5", "250"); !strings.Contains(got, "n1") {
		t.Fatalf("XQUERYDISCARD %q: the departed server presenting its database id not answered", got)
	}
	d.cmd("QUIT", "221")
}

// rt44-shadow4 F3 (SR-6, OPS): a primary the topology no longer names,
// let in by the record of its copies held here, presents its database
// id at every XSHADOW. To this server it is a primary (its copies are
// held here), not a shadow server, and its id is the one its record
// keeps: nothing is wrong. With the real queue the session logged a WARN
// calling it a shadow server whose id was "not recorded: the name is no
// server of the topology" while `umbra shadow list` showed the id
// recorded. The session says what it is, at DEBUG, and no WARN.
func TestSR6DepartedPrimarysDatabaseIDNotWarnedAsAShadowServers(t *testing.T) {
	logs := &syncBuffer{}
	st, err := queue.Open(filepath.Join(t.TempDir(), "queue.db"), queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	q := queue.NewManager(st, queue.DelivererFunc(func(context.Context, *queue.Message, []byte, []int) []queue.Result { return nil }),
		queue.ManagerConfig{Log: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	topo, err := routing.NewTopology(routing.TopologyInput{Sites: []routing.Site{{Name: "s1"}},
		Servers: []routing.Server{{Name: "hub2", Role: routing.RoleHub, Site: "s1", Address: "192.0.2.2:25"}}})
	if err != nil {
		t.Fatal(err)
	}
	q.SetServers(topo)
	addr := freeAddrIn(t, "127.0.0.155", 12000, 12500)
	s, slogs, _, _ := departedServerOn(t, fakeHeld{"hub-b": "127.0.0.155:12999 db-b"}, addr, q, q)
	for range 2 {
		d := dial(t, s, "127.0.0.155")
		d.expect("220")
		d.cmd("EHLO hub-b", "250")
		d.cmd("XSHADOW hub-b MARK DB=db-b", "250")
		d.cmd("QUIT", "221")
	}
	for _, b := range []*syncBuffer{logs, slogs} {
		if w := b.lines("level=WARN"); len(w) != 0 {
			t.Errorf("WARNs for the departed primary's sessions: %q", w)
		}
		if l := b.lines("shadow server"); len(l) != 0 {
			t.Errorf("the departed primary called a shadow server: %q", l)
		}
	}
	if l := slogs.lines("not in this server's topology, let in by the record of its copies held here"); len(l) != 2 ||
		!strings.Contains(l[0], "level=DEBUG") || !strings.Contains(l[0], "primary=hub-b") || !strings.Contains(l[0], "database_id=db-b") {
		t.Errorf("the departed primary's sessions logged %q; want one DEBUG line each naming it as a primary with its database id", l)
	}
}
