package routing

import (
	"strings"
	"testing"
)

func serverNames(s []*Server) string {
	var out []string
	for _, x := range s {
		out = append(out, x.Name)
	}
	return strings.Join(out, ",")
}

// SR-17: candidates for a shadow copy on receipt are the other hubs of the
// site, and the hubs of other sites nearest first; never the server itself.
func TestShadowCandidates(t *testing.T) {
	in := reference(false)
	in.Servers = append(in.Servers, Server{Name: "hub2.chicago", Role: RoleHub, Site: "chicago", Address: "127.0.0.9:25"})
	tp := topo(t, in)
	same, other := tp.ShadowCandidates("hub1.chicago")
	if serverNames(same) != "hub2.chicago" {
		t.Errorf("same site = %s; want hub2.chicago", serverNames(same))
	}
	if len(other) == 0 || other[0].Name != "hub1.newyork" {
		t.Errorf("other sites = %s; want hub1.newyork (the nearest) first", serverNames(other))
	}
	for _, s := range append(same, other...) {
		if s.Name == "hub1.chicago" || s.Role != RoleHub {
			t.Errorf("candidate %s (%s)", s.Name, s.Role)
		}
	}
	if s, o := tp.ShadowCandidates("nobody"); s != nil || o != nil {
		t.Errorf("unknown server has candidates %s / %s", serverNames(s), serverNames(o))
	}
}
