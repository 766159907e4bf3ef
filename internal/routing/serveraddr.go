package routing

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

// ServerWithAddress names the server whose topology address is hostport,
// exactly as written; "" when none, or when several share it (test
// set-ups on one loopback address): no server is then implied.
func (t *Topology) ServerWithAddress(hostport string) string {
	found := ""
	for name, s := range t.servers {
		if s.Address != hostport {
			continue
		}
		if found != "" {
			return ""
		}
		found = name
	}
	return found
}
