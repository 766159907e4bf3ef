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
