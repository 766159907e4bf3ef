package main

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"strings"
	"testing"

	"umbra/internal/routing"
)

type fakeHosts map[string][]string

func (f fakeHosts) LookupHost(_ context.Context, host string) ([]string, error) {
	if a, ok := f[host]; ok {
		return a, nil
	}
	return nil, errors.New("no such host")
}

// SR-1 (shadow26 item 1): the host names servers are listed by are
// resolved once per load of the topology, before it is shared; a
// connection from an address a name resolved to is that server's, and a
// name that does not resolve is WARNed and leaves the server known by
// its source_addresses alone.
func TestServerHostNamesResolvedAtLoad(t *testing.T) {
	topo, err := routing.NewTopology(routing.TopologyInput{Sites: []routing.Site{{Name: "a"}}, Servers: []routing.Server{
		{Name: "hub-b", Role: routing.RoleHub, Site: "a", Address: "hub-b.corp.test:25"},
		{Name: "hub-c", Role: routing.RoleHub, Site: "a", Address: "gone.corp.test:25"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	resolveServerHosts(topo, nil, fakeHosts{"hub-b.corp.test": {"127.0.0.191", "::ffff:127.0.0.192"}}, slog.New(slog.NewTextHandler(&buf, nil)), nil)
	for _, c := range []struct {
		name, ip   string
		listed, at bool
	}{
		{"hub-b", "127.0.0.191", true, true},
		{"hub-b", "127.0.0.192", true, true},
		{"hub-b", "127.0.0.193", true, false},
		{"hub-c", "127.0.0.193", false, false},
	} {
		if listed, at := topo.ServerAddressed(c.name, netip.MustParseAddr(c.ip)); listed != c.listed || at != c.at {
			t.Errorf("ServerAddressed(%s, %s) = %v, %v; want %v, %v", c.name, c.ip, listed, at, c.listed, c.at)
		}
	}
	if !strings.Contains(buf.String(), "did not resolve") || !strings.Contains(buf.String(), "host=gone.corp.test") {
		t.Errorf("no WARN naming the host name that did not resolve:\n%s", buf.String())
	}
}
