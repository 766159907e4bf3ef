package routing

import (
	"strings"
	"testing"
)

// RT-8: "mailbox server in another site: relay towards a hub of that
// site" — of the mailbox server's version, as in its own site: a hub of
// another version does not deliver to it (once hubD1, version 1, was
// chosen for a version-2 mailbox).
func TestRuleOtherSiteMailboxHubOfItsVersion(t *testing.T) {
	in := reference(false)
	in.Servers = append(in.Servers, Server{Name: "hub2.dublin", Role: RoleHub, Site: "dublin", Version: 3, Address: "hub2.dublin:25"},
		Server{Name: "mbx3.dublin", Role: RoleMailbox, Site: "dublin", Version: 3, Address: "mbx3.dublin:24"})
	in.Databases = append(in.Databases, Database{Name: "db3", Server: "mbx3.dublin"})
	in.Recipients = append(in.Recipients, RecipientMap{Match: "new@dublin.example", Database: "db3"})
	tp := topo(t, in)
	r := tp.Route("hub1.london", "new@dublin.example", 1, Authoritative)
	if len(r.NextHops) != 1 || strings.Join(r.NextHops[0].Servers, ",") != "hub2.dublin" {
		t.Errorf("version-3 mailbox in another site: next hops %+v, want hub2.dublin only", r.NextHops)
	}
	if r := tp.Route("hub1.london", "x@dublin.example", 1, Authoritative); len(r.NextHops) != 1 || strings.Join(r.NextHops[0].Servers, ",") != "hub1.dublin" {
		t.Errorf("version-2 mailbox in another site: next hops %+v, want hub1.dublin only", r.NextHops)
	}
}

// RT-4: a site marked hub site is relayed through only when it has hubs.
// One without was shown with the hub-site mark and then explained as "no
// hub site on the path": the explanation now says why it is passed by.
func TestExplainHubSiteWithoutHubs(t *testing.T) {
	in := reference(true)
	var servers []Server
	for _, s := range in.Servers {
		if s.Name != "hub1.newyork" {
			servers = append(servers, s)
		}
	}
	in.Servers = servers
	tp := topo(t, in)
	r := tp.Explain("hub1.chicago", "x@london.example", 1, Authoritative)
	text := strings.Join(r.Reasons, "\n")
	if !strings.Contains(text, "site newyork on the path is marked a hub site but has no hub: not relayed through") ||
		strings.Contains(text, "no hub site on the path") {
		t.Errorf("explanation:\n%s", text)
	}
	if hopSites(r) != "relay:london" {
		t.Errorf("next hops %s, want relay:london", hopSites(r))
	}
}
