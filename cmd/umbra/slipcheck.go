package main

import (
	"net"
	"strings"

	"umbra/internal/config"
)

// configSlips are the values that load but are unlikely to be what the
// operator meant (rt51 F8); config check warns about each:
//   - a binding on port 0 listens on a port the kernel picks, another one
//     at every start, so no client finds it;
//   - a server name with no dot is no fully qualified domain name, yet it
//     is the name of the banner, EHLO, Received fields and DSNs, and other
//     servers check it.
func configSlips(cfg *config.Config) []string {
	var out []string
	for i, rc := range cfg.ReceiveConnectors {
		for j, b := range rc.Bindings {
			if _, port, err := net.SplitHostPort(b); err == nil && strings.Trim(port, "0") == "" {
				out = append(out, warnAt(cfg, []any{"receive_connectors", i, "bindings", j}, "receive connector %q: binding %q listens on a port the kernel picks, "+
					"another one at every start (the log's listen= names it): give the port clients connect to", rc.Name, b))
			}
		}
	}
	if n := strings.TrimSuffix(cfg.Server.Name, "."); n != "" && !strings.Contains(n, ".") {
		out = append(out, warnAt(cfg, []any{"server", "name"}, "server.name %q is not a fully qualified domain name: it is the name of the banner, "+
			"EHLO, Received fields and DSNs, which other servers look up", cfg.Server.Name))
	}
	return out
}
