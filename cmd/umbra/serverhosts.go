package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"umbra/internal/routing"
)

// hostLookup is the part of the resolver the topology's host names are
// looked up with.
type hostLookup interface {
	LookupHost(ctx context.Context, host string) ([]string, error)
}

// serverHostTimeout bounds the lookup of each host name of one load of
// the topology; the names are looked up at once, so a load waits at most
// this long whatever their number.
const serverHostTimeout = 10 * time.Second

// resolveServerHosts resolves the host names servers are listed by in
// the topology (address: hub-b.corp.example:25), once per load (start,
// reload), before the topology is shared: who a connection is from is
// then judged by those addresses too (routing.Topology.SetHostAddresses).
// A name that does not resolve is WARNed. When the lookup failed for a
// time (a DNS outage, a timeout) and prev — the running topology, nil at
// start — had addresses for that name, they are kept: a server is not
// locked out of its own address (its shadow sessions refused, its umbra
// headers stripped) until the next reload by an outage during this one.
// An answer that the name has no address (NXDOMAIN, no records) drops
// them: that server is known by its source_addresses alone until the
// next reload.
func resolveServerHosts(topo, prev *routing.Topology, r hostLookup, log *slog.Logger, gd *guard) {
	if topo == nil || r == nil {
		return
	}
	names := topo.ServerHostNames()
	if len(names) == 0 {
		return
	}
	type answer struct {
		addrs []netip.Addr
		err   error
	}
	answers := make([]answer, len(names))
	var wg sync.WaitGroup
	for i, h := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// A panic of the lookup (a defect) is a lookup that failed
			// for now: counted, and the addresses the name had kept
			// (helperpanic.go).
			if gd.run("server_hosts", func() {
				ctx, cancel := context.WithTimeout(context.Background(), serverHostTimeout)
				defer cancel()
				addrs, err := r.LookupHost(ctx, h)
				for _, a := range addrs {
					if ip, perr := netip.ParseAddr(a); perr == nil {
						answers[i].addrs = append(answers[i].addrs, ip)
					}
				}
				answers[i].err = err
			}) {
				answers[i] = answer{err: &net.DNSError{Err: "internal error (recovered panic)", Name: h, IsTemporary: true}}
			}
		}()
	}
	wg.Wait()
	m := make(map[string][]netip.Addr, len(names))
	for i, h := range names {
		a := answers[i]
		if len(a.addrs) > 0 {
			m[h] = a.addrs
			continue
		}
		var de *net.DNSError
		gone := a.err == nil || errors.As(a.err, &de) && de.IsNotFound && !de.IsTemporary
		if kept := prev.HostAddresses(h); !gone && len(kept) > 0 {
			m[h] = kept
			log.Warn("a server's host name in the topology did not resolve for now: connections from that server are known by the addresses it had before this reload",
				"host", h, "err", a.err, "kept", fmt.Sprint(kept))
			continue
		}
		log.Warn("a server's host name in the topology did not resolve: connections from that server are known by its source_addresses alone until the next reload",
			"host", h, "err", a.err)
	}
	topo.SetHostAddresses(m)
}
