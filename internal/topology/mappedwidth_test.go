package topology

import (
	"testing"

	"umbra/internal/config"
)

// SR-1: a /96 mapped prefix is every IPv4 address
// and refused; a mapped /104 loads.
func TestSR1MappedSlash96Refused(t *testing.T) {
	for _, c := range []struct {
		src string
		ok  bool
	}{{"::ffff:0.0.0.0/96", false}, {"::ffff:10.0.0.0/104", true}, {"::ffff:10.0.0.0/100", false}, {"::ffff:0:0/80", false}} {
		topo := "sites: [{name: a}]\nservers:\n  - {name: hub1, role: hub, site: a, address: \"192.0.2.1:25\", source_addresses: [\"" + c.src + "\"]}\n"
		_, err := config.ParseTopology([]byte(topo), "t.yaml")
		if (err == nil) != c.ok {
			t.Errorf("%s: err %v, want ok=%v", c.src, err, c.ok)
		}
	}
}
