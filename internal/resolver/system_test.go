package resolver

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// Without configured servers umbra asks those of resolv.conf; a missing
// file, or one without a nameserver line, means the local server, as
// the C library has it (resolv.conf(5)) — a daemon does not refuse to
// start for it.
func TestSystemServers(t *testing.T) {
	dir := t.TempDir()
	local := []string{"127.0.0.1:53", "[::1]:53"}
	if got, err := systemServers(filepath.Join(dir, "absent")); err != nil || !slices.Equal(got, local) {
		t.Fatalf("missing file: %v, %v", got, err)
	}
	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, []byte("search example.test\n"), 0o644)
	if got, err := systemServers(empty); err != nil || !slices.Equal(got, local) {
		t.Fatalf("no nameserver: %v, %v", got, err)
	}
	two := filepath.Join(dir, "two")
	os.WriteFile(two, []byte("nameserver 192.0.2.1\nnameserver 2001:db8::1\n"), 0o644)
	if got, err := systemServers(two); err != nil || !slices.Equal(got, []string{"192.0.2.1:53", "[2001:db8::1]:53"}) {
		t.Fatalf("two servers: %v, %v", got, err)
	}
}
