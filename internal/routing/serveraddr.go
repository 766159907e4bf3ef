package routing

import "umbra/internal/mailaddr"

// ServerAddress is the address ("host:port", as written in the topology)
// of server name, and whether name is a server of the topology. The
// queue keeps the shadow state of a primary under its server name and
// asks here where it is now (a reload may have moved it).
func (t *Topology) ServerAddress(name string) (string, bool) {
	s := t.server(name)
	if s == nil {
		return "", false
	}
	return s.Address, true
}

// ServerWithAddress names the server whose topology address is hostport:
// as written, or an IP address its host name resolved to at load, at its
// port (atHostPort); "" when none, or when several share it (test
// set-ups on one loopback address): no server is then implied.
func (t *Topology) ServerWithAddress(hostport string) string {
	found := ""
	for name, s := range t.servers {
		if s.Address == "" || !t.atHostPort(s.Address, hostport) {
			continue
		}
		if found != "" {
			return ""
		}
		found = name
	}
	return found
}

// SmartHostServer names a server of the topology that smart host
// hostport (HOST:PORT, the connector's port filled in as delivery dials
// it: config.SmartHostAddr) is, with no lookup of its own: its
// topology address (both as mailaddr.CanonicalHostPort reads them, or
// the smart host an IP address that a server listed by host name
// resolved to at load, at the same port: atHostPort), or its name (the
// host, at any port); "" when it is none, and never
// except (this server, whose own address other checks look at).
// delivery.ServerReached narrows a name to the port of the server's
// address (another port of its host is another service): that is the
// one rule for "a smart host that is a server of the organisation" —
// config check warns of such a smart host (mail sent there comes back),
// and a relay through any other leaves the organisation, which a shadow
// server notes for the primary whose copy it took over (queue
// takendone.go).
func (t *Topology) SmartHostServer(hostport, except string) string {
	host, _, err := mailaddr.SplitHostPort(hostport)
	if err != nil {
		host = hostport
	}
	skip := mailaddr.NameKey(except)
	for _, s := range t.in.Servers {
		if except != "" && mailaddr.NameKey(s.Name) == skip {
			continue
		}
		if s.Address != "" && t.atHostPort(s.Address, hostport) || mailaddr.NameKey(s.Name) == mailaddr.NameKey(host) {
			return s.Name
		}
	}
	return ""
}
