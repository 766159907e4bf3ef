package routing

import (
	"strings"
	"testing"
)

// An authoritative domain of this server that the topology maps to no
// mailbox database is delivered into this server's own mailbox store —
// by the daemon and in route explain alike, since both ask route (rt5
// F2: explain said "send connector internet" while the daemon delivered
// it itself). The topology's own entries still win: an exact address or
// a directory assignment is routed by the topology; an edge sends all
// accepted mail to the hubs of its site; a domain that is not
// authoritative here takes the send connectors.
func TestRouteAuthoritativeDomainWithoutDatabase(t *testing.T) {
	in := reference(false)
	in.Servers = append(in.Servers, Server{Name: "edge1.chicago", Role: RoleEdge, Site: "chicago", Version: 2, Address: "edge1.chicago:25"})
	in.Recipients = append(in.Recipients, RecipientMap{Match: "boss@other.example", Database: "db-dublin"})
	in.Connectors = []SendConnector{{Name: "internet", Enabled: true, AddressSpaces: []AddressSpace{{Domain: "*", Cost: 1}},
		SourceServers: []string{"hub1.london"}}}
	tp := topo(t, in)
	for _, tc := range []struct {
		name, from, rcpt string
		accepted         DomainType
		hops, dest       string
	}{
		{"authoritative here, not in the map: this server's own store", "hub1.chicago", "x@other.example", Authoritative,
			"mailbox:", "the local mailbox store"},
		{"an exact address of the map is the topology's", "hub1.chicago", "boss@other.example", Authoritative,
			"relay:dublin,relay:london,relay:newyork", "database db-dublin on mbx1.dublin (site dublin, version 2)"},
		{"a mapped domain is the topology's even when authoritative here", "hub1.chicago", "a@dublin.example", Authoritative,
			"relay:dublin,relay:london,relay:newyork", "database db-dublin on mbx1.dublin (site dublin, version 2)"},
		{"internal relay: the send connectors", "hub1.chicago", "x@other.example", InternalRelay,
			"relay:london,relay:newyork", "send connector internet"},
		{"not accepted: the send connectors", "hub1.chicago", "x@other.example", NotAccepted,
			"relay:london,relay:newyork", "send connector internet"},
		{"an edge sends accepted mail to its hubs, authoritative or not", "edge1.chicago", "x@other.example", Authoritative,
			"relay:chicago", "the hubs of site chicago"},
	} {
		for _, explain := range []bool{false, true} {
			r := tp.Route(tc.from, tc.rcpt, 0, tc.accepted)
			if explain {
				r = tp.Explain(tc.from, tc.rcpt, 0, tc.accepted)
			}
			if got := hopSites(r); got != tc.hops || r.Destination != tc.dest || r.NDR != "" {
				t.Errorf("%s (explain %v): hops %q destination %q ndr %q; want %q, %q", tc.name, explain, got, r.Destination, r.NDR, tc.hops, tc.dest)
			}
			if tc.hops == "mailbox:" && (len(r.NextHops[0].Servers) != 0 || r.NextHops[0].Database != "") {
				t.Errorf("%s: the local store names no server or database of the topology: %+v", tc.name, r.NextHops[0])
			}
		}
	}
	r := tp.Explain("hub1.chicago", "x@other.example", 0, Authoritative)
	if !strings.Contains(strings.Join(r.Reasons, "\n"), "maps no mailbox database") {
		t.Errorf("explain gives no reason for the local store: %q", r.Reasons)
	}
}
