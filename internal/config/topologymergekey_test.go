package config

import (
	"strings"
	"testing"
)

// A YAML merge key in a topology server entry is refused alone, naming
// the entry (its place and its name), as the main configuration's is:
// the settings it would have merged (role, site, …) are missing from
// the entry only because of it, so "server role must be hub, edge,
// mailbox or legacy, not \"\"" is an error that only follows from it.
func TestTopologyMergeKeyRefusedAloneNamingTheEntry(t *testing.T) {
	text := "sites:\n  - name: s1\n    subnets: [\"10.0.0.0/8\"]\n" +
		"servers:\n" +
		"  - &h2\n    name: hub2.ops.test\n    role: hub\n    site: s1\n    address: \"10.0.0.2:25\"\n    version: 2\n" +
		"  - <<: *h2\n    name: hub3.ops.test\n"
	_, err := ParseTopology([]byte(text), "tC.yaml")
	if err == nil {
		t.Fatal("accepted")
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != 1 || !strings.Contains(err.Error(), `tC.yaml:11: YAML merge keys ("<<") are not supported`) ||
		!strings.Contains(err.Error(), `servers[1] ("hub3.ops.test")`) || strings.Contains(err.Error(), "topo server") {
		t.Errorf("%d errors:\n%s\nwant only the merge key's, naming servers[1] (\"hub3.ops.test\")", len(lines), err)
	}
}
