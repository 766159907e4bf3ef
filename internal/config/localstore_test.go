package config

import "testing"

// Which accepted domains the topology's recipient map covers as a whole
// (CheckLocalStore): "*.x" covers the subdomains of x, not x; an address
// entry or a group covers only itself.
func TestTopologyMapsDomain(t *testing.T) {
	tp := &Topology{Recipients: []TopoRecipients{
		{Match: "Corp.test", Database: "DB1"},
		{Match: "*.corp.test", Database: "DB1"},
		{Match: "*.sub.example", Database: "DB1"},
		{Match: "boss@other.test", Database: "DB1"},
		{Match: "all@group.test", Members: []string{"a@corp.test"}},
	}}
	for domain, want := range map[string]bool{
		"corp.test": true, "CORP.test.": true, "a.corp.test": true, "*.corp.test": true, "*.a.corp.test": true,
		"sub.example": false, "x.sub.example": true, "*.sub.example": true, "*.example": false,
		"other.test": false, "group.test": false, "corp.test.evil": false, "xcorp.test": false,
	} {
		if got := topologyMapsDomain(tp, domain); got != want {
			t.Errorf("%s: %v, want %v", domain, got, want)
		}
	}
}
