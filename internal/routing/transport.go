package routing

import (
	"net/netip"
	"sort"
)

// Transport reports whether name is a transport server of the topology:
// role hub or edge, an umbra that keeps shadow copies and speaks the
// shadow verbs. A mailbox server (an LMTP store such as Dovecot) and a
// legacy server are servers of the organisation but not transport
// servers: they may not open shadow sessions (SR-1, README "Shadow
// redundancy") and their umbra headers are not kept.
func (t *Topology) Transport(name string) bool {
	s := t.server(name)
	return s != nil && (s.Role == RoleHub || s.Role == RoleEdge)
}

// TransportServers lists the names of the transport servers of the
// topology (hubs and edges), sorted.
func (t *Topology) TransportServers() []string {
	var out []string
	for n, s := range t.servers {
		if s.Role == RoleHub || s.Role == RoleEdge {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

// IsTransportAddress reports whether connections from ip may come from
// some transport server of the topology (as ServerAt decides it).
func (t *Topology) IsTransportAddress(ip netip.Addr) bool {
	for n, s := range t.servers {
		if s.Role != RoleHub && s.Role != RoleEdge {
			continue
		}
		if _, at := t.ServerAt(n, ip); at {
			return true
		}
	}
	return false
}

// ServerName is the topology's own spelling of the server name stands
// for (names match as NameKey folds them: case, a final dot), false when
// the topology has no such server. Marks kept by name (queue
// destinations' server:refused:NAME) take this spelling, so that a
// server stating its name in another case marks what delivery reads.
func (t *Topology) ServerName(name string) (string, bool) {
	s := t.server(name)
	if s == nil {
		return "", false
	}
	return s.Name, true
}
