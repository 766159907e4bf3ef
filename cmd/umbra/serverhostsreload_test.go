package main

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"net/netip"
	"testing"

	"umbra/internal/routing"
)

// outageHosts answers every lookup with err: a DNS outage (temporary)
// or the name's removal (NXDOMAIN) at the moment of the reload.
type outageHosts struct{ err error }

func (o outageHosts) LookupHost(context.Context, string) ([]string, error) { return nil, o.err }

// SR-1 (shadow26 review F4): hub-b is listed by host name and, for its
// second interface, source_addresses. Its name resolved at start; a
// reload during a DNS outage (a timeout, not an answer that the name is
// gone) must not lock hub-b out of its own address until the next
// reload (its shadow sessions from the address its name had refused
// 550 5.7.1, its umbra headers stripped): the previous load's addresses
// of that name are kept. An answer that the name does not exist
// (NXDOMAIN) drops them.
func TestReloadDNSOutageKeepsServerAddresses(t *testing.T) {
	load := func() *routing.Topology {
		topo, err := routing.NewTopology(routing.TopologyInput{Sites: []routing.Site{{Name: "a"}}, Servers: []routing.Server{
			{Name: "hub-b", Role: routing.RoleHub, Site: "a", Address: "hub-b.corp.test:25",
				Sources: []netip.Prefix{netip.MustParsePrefix("127.0.0.192/32")}},
		}})
		if err != nil {
			t.Fatal(err)
		}
		return topo
	}
	log := slog.New(slog.NewTextHandler(&bytes.Buffer{}, nil))
	at := netip.MustParseAddr("127.0.0.193")
	start := load()
	resolveServerHosts(start, nil, fakeHosts{"hub-b.corp.test": {at.String()}}, log, nil)
	if _, ok := start.ServerAddressed("hub-b", at); !ok {
		t.Fatal("at start: 127.0.0.193 is not hub-b's")
	}
	reloaded := load()
	resolveServerHosts(reloaded, start, outageHosts{&net.DNSError{Err: "i/o timeout", Name: "hub-b.corp.test", IsTimeout: true, IsTemporary: true}}, log, nil)
	if listed, ok := reloaded.ServerAddressed("hub-b", at); listed && !ok {
		t.Errorf("after a reload during a DNS outage: a connection from %s (hub-b's address at start) is refused as not hub-b's until the next reload", at)
	}
	// A second reload in the outage keeps them still (from the first
	// reload's topology, which kept them).
	again := load()
	resolveServerHosts(again, reloaded, outageHosts{&net.DNSError{Err: "server misbehaving", Name: "hub-b.corp.test", IsTemporary: true}}, log, nil)
	if listed, ok := again.ServerAddressed("hub-b", at); listed && !ok {
		t.Errorf("after a second reload during the outage: %s no longer hub-b's", at)
	}
	gone := load()
	resolveServerHosts(gone, again, outageHosts{&net.DNSError{Err: "no such host", Name: "hub-b.corp.test", IsNotFound: true}}, log, nil)
	if _, ok := gone.ServerAddressed("hub-b", at); ok {
		t.Errorf("after a reload that found hub-b.corp.test gone (NXDOMAIN): %s is still hub-b's", at)
	}
}
