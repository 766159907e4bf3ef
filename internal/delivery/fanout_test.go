package delivery

import (
	"context"
	"strings"
	"testing"
	"time"

	"umbra/internal/queue"
	"umbra/internal/recipients"
	"umbra/internal/routing"
)

// RT-6 / RT-12: "Delayed fan-out forks at the fork site" (issue 11
// defect 1: with recipients in sites C and D and paths A→B→C and A→B→D,
// one copy goes to a hub of B, which splits it). Real SMTP to loopback
// sinks standing for the hubs of B, C and D.
func TestDelayedFanOutRelaysOneCopyToTheForkSite(t *testing.T) {
	b, c, d := startSink(t, "127.0.0.2:0", false, nil), startSink(t, "127.0.0.3:0", false, nil), startSink(t, "127.0.0.4:0", false, nil)
	in := routing.TopologyInput{
		Sites: []routing.Site{{Name: "a"}, {Name: "b"}, {Name: "c"}, {Name: "d"}},
		Links: []routing.SiteLink{{Name: "a-b", Sites: []string{"a", "b"}, Cost: 1},
			{Name: "b-c", Sites: []string{"b", "c"}, Cost: 1}, {Name: "b-d", Sites: []string{"b", "d"}, Cost: 1}},
		Servers: []routing.Server{{Name: "hub-a", Role: routing.RoleHub, Site: "a", Address: "127.0.0.1:1"},
			{Name: "hub-b", Role: routing.RoleHub, Site: "b", Address: b.addr},
			{Name: "hub-c", Role: routing.RoleHub, Site: "c", Address: c.addr},
			{Name: "hub-d", Role: routing.RoleHub, Site: "d", Address: d.addr},
			{Name: "mbx-c", Role: routing.RoleMailbox, Site: "c", Address: "127.0.0.3:1"},
			{Name: "mbx-d", Role: routing.RoleMailbox, Site: "d", Address: "127.0.0.4:1"}},
		Databases:  []routing.Database{{Name: "db-c", Server: "mbx-c"}, {Name: "db-d", Server: "mbx-d"}},
		Recipients: []routing.RecipientMap{{Match: "c.test", Database: "db-c"}, {Match: "d.test", Database: "db-d"}},
	}
	topo, err := routing.NewTopology(in)
	if err != nil {
		t.Fatal(err)
	}
	table := routing.NewTable([]routing.AcceptedDomain{{Domain: "c.test", Type: routing.Authoritative},
		{Domain: "d.test", Type: routing.Authoritative}}, nil)
	for _, tc := range []struct {
		name  string
		local string
		want  map[*sink]string // sink → recipients of the one copy it got
	}{
		{"at A: one copy to B, where the paths fork", "hub-a", map[*sink]string{b: "u@c.test,v@d.test"}},
		{"at B: the fork site splits it", "hub-b", map[*sink]string{c: "u@c.test", d: "v@d.test"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, s := range []*sink{b, c, d} {
				s.mu.Lock()
				s.got = nil
				s.mu.Unlock()
			}
			dl, err := New(Config{Hostname: tc.local, Routing: table, Topology: topo, LocalServer: tc.local,
				ConnectTimeout: 2 * time.Second, CommandTimeout: 5 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			defer dl.Close()
			m := message("u@c.test", "v@d.test")
			for _, r := range dl.Deliver(context.Background(), m, body, all(m)) {
				if r.Outcome != queue.RelayedOK {
					t.Fatalf("%+v", r)
				}
			}
			for _, s := range []*sink{b, c, d} {
				var got []string
				for _, g := range s.received() {
					got = append(got, strings.Join(g.rcpts, ","))
				}
				if want := tc.want[s]; strings.Join(got, "|") != want {
					t.Errorf("sink %s got copies %q, want %q", s.addr, got, want)
				}
			}
		})
	}
}

// A callout for a group the asking hub expands is answered from the
// topology (the group is known there), not with "no route".
func TestVerifyGroupExpandedHere(t *testing.T) {
	topo, err := routing.NewTopology(routing.TopologyInput{
		Sites:      []routing.Site{{Name: "a"}},
		Servers:    []routing.Server{{Name: "hub-a", Role: routing.RoleHub, Site: "a", Address: "127.0.0.1:1"}},
		Recipients: []routing.RecipientMap{{Match: "all@c.test", Members: []string{"x@d.test"}, ExpansionSite: "a"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	dl, err := New(Config{Hostname: "hub-a", Routing: routing.NewTable([]routing.AcceptedDomain{{Domain: "c.test", Type: routing.Authoritative}}, nil),
		Topology: topo, LocalServer: "hub-a", ConnectTimeout: time.Second, CommandTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer dl.Close()
	if v, _, err := dl.Verify(context.Background(), "all@c.test"); v != recipients.Known || err != nil {
		t.Errorf("verdict %v, %v", v, err)
	}
}
