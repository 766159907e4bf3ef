package topology

import (
	"strings"
	"testing"

	"umbra/internal/config"
)

// RT-1: a site subnet written IPv4-mapped ("::ffff:10.0.0.0/104") is the
// IPv4 prefix it maps (10.0.0.0/8), as source_addresses are: a server
// without a site whose address lies in it — in either spelling — gets
// that site, and routing derives the same site from either spelling of
// an address.
func TestRT1MappedSubnetGivesSite(t *testing.T) {
	for _, subnet := range []string{"10.0.0.0/8", "::ffff:10.0.0.0/104", "::ffff:a00:0/104"} {
		for _, addr := range []string{"10.1.0.5:25", "[::ffff:10.1.0.5]:25"} {
			topo := "sites:\n  - {name: a, subnets: [\"" + subnet + "\"]}\n  - {name: b, subnets: [\"192.0.2.0/24\"]}\n" +
				"site_links: [{name: ab, sites: [a, b], cost: 1}]\n" +
				"servers:\n  - {name: hub1, role: hub, address: \"" + addr + "\"}\n  - {name: hub2, role: hub, site: b, address: \"192.0.2.1:25\"}\n"
			ct, err := config.ParseTopology([]byte(topo), "t.yaml")
			if err != nil {
				t.Errorf("subnet %s, address %s: %v", subnet, addr, err)
				continue
			}
			rt, err := Build(ct)
			if err != nil {
				t.Errorf("subnet %s, address %s: %v", subnet, addr, err)
				continue
			}
			for _, a := range []string{"10.2.3.4", "::ffff:10.2.3.4", "[::ffff:10.2.3.4]:25"} {
				if site, err := rt.SiteOf(a); err != nil || site != "a" {
					t.Errorf("subnet %s: SiteOf(%s) = %q, %v; want a", subnet, a, site, err)
				}
			}
		}
	}
}

// RT-1: the same prefix in two spellings in two sites is the same
// subnet twice: refused at its line, as a repeat in one spelling is.
func TestRT1MappedSubnetTwiceRefused(t *testing.T) {
	topo := "sites:\n  - {name: a, subnets: [\"10.0.0.0/8\"]}\n  - {name: b, subnets: [\"::ffff:10.0.0.0/104\"]}\n" +
		"site_links: [{name: ab, sites: [a, b], cost: 1}]\n" +
		"servers:\n  - {name: hub1, role: hub, site: a, address: \"10.1.0.5:25\"}\n"
	_, err := config.ParseTopology([]byte(topo), "t.yaml")
	if err == nil || !strings.Contains(err.Error(), "t.yaml:3") || !strings.Contains(err.Error(), "already a subnet of site \"a\"") {
		t.Fatalf("10.0.0.0/8 in site a and ::ffff:10.0.0.0/104 in site b: err = %v; want the repeat refused at t.yaml:3", err)
	}
	topo = strings.Replace(topo, "::ffff:10.0.0.0/104", "::ffff:10.0.0.1/104", 1)
	_, err = config.ParseTopology([]byte(topo), "t.yaml")
	if err == nil || !strings.Contains(err.Error(), "t.yaml:3") || !strings.Contains(err.Error(), "host bits") {
		t.Fatalf("::ffff:10.0.0.1/104: err = %v; want host bits refused at t.yaml:3", err)
	}
}
