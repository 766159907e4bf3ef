package main

import (
	"context"
	"log/slog"
	"net/netip"
	"time"

	"umbra/internal/routing"
)

// hostLookup is the part of the resolver the topology's host names are
// looked up with.
type hostLookup interface {
	LookupHost(ctx context.Context, host string) ([]string, error)
}

// serverHostsTimeout bounds the lookups of one load of the topology.
const serverHostsTimeout = 10 * time.Second

// resolveServerHosts resolves the host names servers are listed by in
// the topology (address: hub-b.corp.example:25), once per load (start,
// reload), before the topology is shared: who a connection is from is
// then judged by those addresses too (routing.Topology.SetHostAddresses).
// A name that does not resolve is WARNed; that server is known by its
// source_addresses alone until the next reload.
func resolveServerHosts(topo *routing.Topology, r hostLookup, log *slog.Logger) {
	if topo == nil || r == nil {
		return
	}
	names := topo.ServerHostNames()
	if len(names) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), serverHostsTimeout)
	defer cancel()
	m := make(map[string][]netip.Addr, len(names))
	for _, h := range names {
		addrs, err := r.LookupHost(ctx, h)
		for _, a := range addrs {
			if ip, perr := netip.ParseAddr(a); perr == nil {
				m[h] = append(m[h], ip)
			}
		}
		if len(m[h]) == 0 {
			log.Warn("a server's host name in the topology did not resolve: connections from that server are known by its source_addresses alone until the next reload",
				"host", h, "err", err)
		}
	}
	topo.SetHostAddresses(m)
}
