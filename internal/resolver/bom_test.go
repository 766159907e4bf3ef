package resolver

import "testing"

// SPEC OPS-3: a hosts_file saved with a UTF-8 byte-order mark has its
// first line read.
func TestHostsBOM(t *testing.T) {
	m := parseHosts([]byte("\ufeff127.0.0.190 mx.example.org\n127.0.0.191 b.example.org\n"))
	if len(m["mx.example.org"]) != 1 {
		t.Fatalf("first line of a hosts file with a byte-order mark: %v", m)
	}
}
