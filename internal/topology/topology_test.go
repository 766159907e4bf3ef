package topology

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"umbra/internal/config"
	"umbra/internal/routing"
)

// routeAll routes every recipient the topology knows (an address of
// every recipient map entry, and an address outside it) from every
// non-legacy server, at several sizes, with fan-out over all of them:
// each must end in next hops, an NDR, or a documented wait.
func routeAll(t *testing.T, ct *config.Topology, tp *routing.Topology) {
	var rcpts []string
	for _, r := range ct.Recipients {
		m := strings.ToLower(r.Match)
		switch {
		case strings.Contains(m, "@"):
			rcpts = append(rcpts, m)
		case strings.HasPrefix(m, "*."):
			rcpts = append(rcpts, "u@x"+m[1:])
		default:
			rcpts = append(rcpts, "u@"+m)
		}
	}
	for _, c := range ct.SendConnectors {
		for _, a := range c.AddressSpaces {
			rcpts = append(rcpts, "u@"+strings.TrimPrefix(strings.TrimPrefix(a.Domain, "*"), ".")+"x")
			rcpts = append(rcpts, "u@a."+strings.TrimPrefix(strings.TrimPrefix(a.Domain, "*"), "."))
		}
	}
	rcpts = append(rcpts, "u@elsewhere.example")
	for _, s := range ct.Servers {
		if s.Role == "legacy" {
			continue
		}
		for _, size := range []int64{0, 1 << 20, 1 << 40} {
			var routes []routing.Route
			for _, rc := range rcpts {
				for _, typ := range []routing.DomainType{routing.Authoritative, routing.NotAccepted} {
					r := tp.Explain(s.Name, rc, size, typ)
					if r.NDR == "" && len(r.NextHops) == 0 && len(r.Expand) == 0 && !strings.HasPrefix(r.Destination, "no send connector") {
						t.Fatalf("%s -> %s: neither next hop nor NDR nor a documented wait: %+v", s.Name, rc, r)
					}
					routes = append(routes, r)
				}
			}
			tp.FanOut(s.Name, routes)
		}
	}
}

// Every shipped topology loads and routes everything.
func TestShippedTopologies(t *testing.T) {
	files, _ := filepath.Glob("../../configs/topology/*.yaml")
	if len(files) == 0 {
		t.Fatal("no topology in configs/topology")
	}
	for _, f := range files {
		ct, err := config.LoadTopology(f)
		if err != nil {
			t.Fatal(err)
		}
		tp, err := Build(ct)
		if err != nil {
			t.Fatal(err)
		}
		routeAll(t, ct, tp)
	}
}

// RT-12: "topology validation total (no panic or hang on any accepted
// topology)"; issue 11 acceptance: "The daemon survives any topology
// that config check accepts". A file config accepts must build, and
// every recipient of it must route, within a time bound.
func FuzzLoad(f *testing.F) {
	for _, glob := range []string{"../../configs/topology/*.yaml", "../config/testdata/bad-topology/*.yaml"} {
		files, _ := filepath.Glob(glob)
		for _, file := range files {
			b, _ := os.ReadFile(file)
			f.Add(b)
		}
	}
	f.Add([]byte("sites: [{name: a}, {name: b}]\nsite_links: [{name: l, sites: [a, b], cost: 1}]\n" +
		"servers: [{name: h, role: hub, site: a, address: \"10.0.0.1:25\"}, {name: x, role: legacy, routing_group: g, address: \"10.9.0.1:25\"}]\n" +
		"routing_group_connectors: [{name: r, groups: [modern, g], source_servers: [h]}]\n" +
		"mailbox_databases: [{name: D, server: x}]\nrecipients: [{match: old.example, database: D}]\n" +
		"send_connectors: [{name: s, address_spaces: [{domain: \"*\", cost: 1}], source_servers: [x]}]\n"))
	f.Add([]byte("sites: [{name: a}, {name: b}]\nsite_links: [{name: l, sites: [a, b], cost: 1}]\n" +
		"servers: [{name: h, role: hub, site: a, address: \"10.0.0.1:25\"}, {name: hb, role: hub, site: b, address: \"10.0.1.1:25\"}]\n" +
		"recipients: [{match: all@x.example, members: [team@x.example, z@y.example], expansion_site: b}, {match: team@x.example, members: [q@y.example], expansion_site: a}]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		ct, err := config.ParseTopology(data, "fuzz.yaml")
		if err != nil {
			return
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			tp, err := Build(ct)
			if err != nil {
				t.Errorf("config accepted a topology routing refuses: %v", err)
				return
			}
			routeAll(t, ct, tp)
		}()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("routing an accepted topology did not finish in 10 s (a loop)")
		}
	})
}
