package delivery

import (
	"bytes"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"

	"umbra/internal/queue"
	"umbra/internal/routing"
)

// nameTopology is hub-a (this server), hub-b and hub-c at addresses of
// their own, and more: extra servers of site b.
func nameTopology(t *testing.T, extra ...routing.Server) *routing.Topology {
	t.Helper()
	servers := append([]routing.Server{
		{Name: "hub-a", Role: routing.RoleHub, Site: "a", Address: "127.0.0.187:14000"},
		{Name: "hub-c", Role: routing.RoleHub, Site: "b", Address: "127.0.0.187:14002"},
	}, extra...)
	topo, err := routing.NewTopology(routing.TopologyInput{
		Sites:   []routing.Site{{Name: "a"}, {Name: "b"}},
		Links:   []routing.SiteLink{{Name: "a-b", Sites: []string{"a", "b"}, Cost: 1}},
		Servers: servers,
	})
	if err != nil {
		t.Fatal(err)
	}
	return topo
}

// SR-7, SR-17 (rr25 F1): a second host running a copy of hub-b's data
// dir AND of its configuration (server.name hub-b), placed in the
// topology as hub-c at its own address, states NAME=hub-b and presents
// hub-b's id. It is not hub-b met under a second name — hub-b is a
// server of the topology at another address —: two hosts state that
// name, no copy on receipt there (its sessions here pass as hub-b's, so
// either could discard or take over copies filed under hub-c), and a
// WARN says so. A real typo (hub-b2 listed at hub-b's address beside
// it) and a rename (hub-b no longer in the topology) are not judged two
// hosts by holderSeen, the judgement this test checks. The typo gets
// its copy (its sessions here open as hub-b, a transport server of the
// topology, and are let in); the renamed one does not, by the other
// judgement of the copy on receipt: its sessions under hub-b, a name
// the topology no longer lists, are refused here (sessionsRefusedHere,
// TestTypoOnPrimaryNoCopyOnHolderItRefuses).
func TestCopiedConfigStatingOwnersNameGetsNoCopy(t *testing.T) {
	hubB := routing.Server{Name: "hub-b", Role: routing.RoleHub, Site: "b", Address: "127.0.0.187:14001"}
	typo := routing.Server{Name: "hub-b2", Role: routing.RoleHub, Site: "b", Address: "127.0.0.187:14001"}
	for _, c := range []struct {
		what    string
		topo    *routing.Topology
		dialled string
		copied  bool
	}{
		{"a clone listed as hub-c", nameTopology(t, hubB), "hub-c", true},
		{"hub-b under a typo listed at its address", nameTopology(t, hubB, typo), "hub-b2", false},
		{"hub-b renamed in the topology", nameTopology(t, typo), "hub-b2", false},
		{"hub-b not in the topology: hub-c is hub-b renamed", nameTopology(t, typo), "hub-c", false},
	} {
		var buf bytes.Buffer
		d := &Deliverer{log: slog.New(slog.NewTextHandler(&buf, nil))}
		d.st.Store(&state{cfg: Config{Topology: c.topo, LocalServer: "hub-a"}})
		r := NewReceiptShadow(d, "dbA")
		r.holders = &refusingHolders{} // dbB kept as hub-b's
		another, copied := r.holderSeen(c.dialled, "hub-b", "dbB")
		if !another || (copied != "") != c.copied {
			t.Errorf("%s: %s stating hub-b with hub-b's id: another %v, no copy for %q; want copied %v", c.what, c.dialled, another, copied, c.copied)
		}
		warned := strings.Contains(buf.String(), "two hosts state that name")
		if warned != c.copied {
			t.Errorf("%s: WARN of two hosts stating one name %v, want %v:\n%s", c.what, warned, c.copied, buf.String())
		}
		if c.copied && !strings.Contains(copied, "127.0.0.187:14001") {
			t.Errorf("%s: the reason %q does not name hub-b's address", c.what, copied)
		}
	}
}

// OPS- logs (rr25 F3): a shadow server met first with no stated name
// (below 20, before its upgrade) is WARNed as "not recorded"; once it
// states a name of its own it gets no copy any more, and that is WARNed
// too — the pacing is per (name, kind, id), not per (name, id).
func TestCopiedWarnAfterUpgrade(t *testing.T) {
	var buf bytes.Buffer
	d := &Deliverer{log: slog.New(slog.NewTextHandler(&buf, nil))}
	r := NewReceiptShadow(d, "dbA")
	r.holders = &refusingHolders{}
	r.holderSeen("hub-c", "", "dbB")
	if _, copied := r.holderSeen("hub-c", "hub-c", "dbB"); copied == "" {
		t.Fatal("hub-c stating its own name with hub-b's id: copy made")
	}
	r.holderSeen("hub-c", "hub-c", "dbB")
	out := buf.String()
	if n := strings.Count(out, "no copy on receipt on a shadow server presenting another server's transport database id"); n != 1 {
		t.Errorf("%d WARN lines of a copied data dir after the upgrade, want 1:\n%s", n, out)
	}
	if n := strings.Count(out, "level=WARN"); n != 2 {
		t.Errorf("%d WARN lines, want 2 (not recorded, then copied):\n%s", n, out)
	}
}

// SR-17 (rr25 F2): the holder met under a misspelt name (hub-b2, hub-b
// itself) is refused relays by design and marked refused:hub-b2; copies
// on receipt do not go by that mark: the holder the copy is promised to
// keeps its place under prefer-remote. A server the receipt path judged
// a copied data dir is tried last, until it is judged otherwise (an id
// of its own).
func TestTypoHolderNotTriedLastAfterRelayRefusal(t *testing.T) {
	h := queue.NewHealth()
	r := NewReceiptShadow(&Deliverer{health: h, log: slog.New(slog.NewTextHandler(&bytes.Buffer{}, nil))}, "dbA")
	now := time.Now()
	h.Unresponsive(now, "contact refused here", refusedKey("hub-b2")) // openShadow's mark
	h.Responsive("hub-b2", "127.0.0.187:14001")                       // dial's Responsive after a copy made there
	typo := &routing.Server{Name: "hub-b2", Address: "127.0.0.187:14001", Site: "b"}
	local := &routing.Server{Name: "hub-a2", Address: "127.0.0.187:14003", Site: "a"}
	if plan := healthyFirst(r.marked(now), []*routing.Server{typo, local}); plan[0] != typo {
		t.Errorf("prefer-remote plan %s, %s: the misspelt holder, which gets the copy, is tried after the local server", plan[0].Name, plan[1].Name)
	}

	clone := &routing.Server{Name: "hub-c", Address: "127.0.0.187:14002", Site: "b"}
	r.holders = &switchingHolders{}
	r.holderSeen("hub-c", "hub-c", "dbB") // judged a copied data dir
	if plan := healthyFirst(r.marked(time.Now()), []*routing.Server{clone, local}); plan[0] != local {
		t.Errorf("prefer-remote plan %s, %s: the copied data dir is not tried last", plan[0].Name, plan[1].Name)
	}
	if plan := healthyFirst(r.marked(time.Now().Add(receiptProbe)), []*routing.Server{clone, local}); plan[0] != clone {
		t.Errorf("plan %s, %s a probe interval later: the copied data dir is not probed in its place", plan[0].Name, plan[1].Name)
	}
	r.holderSeen("hub-c", "hub-c", "dbC") // an id of its own
	if plan := healthyFirst(r.marked(time.Now()), []*routing.Server{clone, local}); plan[0] != clone {
		t.Errorf("plan %s, %s: hub-c, now presenting an id of its own, is still tried last", plan[0].Name, plan[1].Name)
	}
}

// SR-7, SR-17 (shadow26 item 2): hub-b listed by IP address and, beside
// it, the typo hub-b2 listed by a host name that resolves (at the
// topology's load) to hub-b's IP address, same port: one host, spelled
// twice. hub-b met under the typo is hub-b met under a second name and
// gets its copy; no WARN of two hosts. A name resolving elsewhere is
// still another host.
func TestTwinHostComparesResolvedAddresses(t *testing.T) {
	hubB := routing.Server{Name: "hub-b", Role: routing.RoleHub, Site: "b", Address: "127.0.0.187:14001"}
	typo := routing.Server{Name: "hub-b2", Role: routing.RoleHub, Site: "b", Address: "Hub-B.corp.test.:14001"}
	for _, c := range []struct {
		what   string
		addrs  map[string][]netip.Addr
		copied bool
	}{
		{"the typo's host name resolves to hub-b's address", map[string][]netip.Addr{"hub-b.corp.test": {netip.MustParseAddr("127.0.0.9"), netip.MustParseAddr("127.0.0.187")}}, false},
		{"the typo's host name resolves to another address", map[string][]netip.Addr{"hub-b.corp.test": {netip.MustParseAddr("127.0.0.9")}}, true},
	} {
		topo := nameTopology(t, hubB, typo)
		topo.SetHostAddresses(c.addrs)
		var buf bytes.Buffer
		d := &Deliverer{log: slog.New(slog.NewTextHandler(&buf, nil))}
		d.st.Store(&state{cfg: Config{Topology: topo, LocalServer: "hub-a"}})
		r := NewReceiptShadow(d, "dbA")
		r.holders = &refusingHolders{} // dbB kept as hub-b's
		another, copied := r.holderSeen("hub-b2", "hub-b", "dbB")
		if !another || (copied != "") != c.copied {
			t.Errorf("%s: hub-b2 stating hub-b with hub-b's id: another %v, no copy for %q; want copied %v", c.what, another, copied, c.copied)
		}
		if warned := strings.Contains(buf.String(), "two hosts state that name"); warned != c.copied {
			t.Errorf("%s: WARN of two hosts stating one name %v, want %v:\n%s", c.what, warned, c.copied, buf.String())
		}
	}
}
