package config

import (
	"os"
	"path/filepath"
	"testing"
)

// AdminSocketOf reads the socket of a file that does not validate
// (OPS-: route explain asks the daemon the file names), resolved as
// Load resolves it; a file that is not YAML names none.
func TestAdminSocketOfInvalidFile(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ text, want string }{
		// A syntax slip (rt24c F5): the server block's lines still read.
		{"server:\n  data_dir: data\n  hostname: [\nsend_connectors: nope\n", filepath.Join(dir, "data", "admin.sock")},
		{"server:\n  role: hub\n  role: edge\n  data_dir: d1\n  admin_socket: \"a.sock\"\n", filepath.Join(dir, "d1", "a.sock")},
		{"server:\n  data_dir: d1\n  admin_socket: a.sock # here\n  log_level: debug\n   bad_indent: 1\n", filepath.Join(dir, "d1", "a.sock")},
		{"server:\n  admin_socket: /run/x.sock\nrecipients:\n  file: [unclosed\n", "/run/x.sock"},
		{"transport:\n  max_active: [\n", "/var/lib/umbra/admin.sock"},
		{"server: {data_dir: d1\n", ""},
		{"server:\n  data_dir: d1\nserver:\n  data_dir: d2\n  x: [\n", ""},
		{"server:\n  data_dir: data\n  bogus: 1\nsend_connectors:\n  - tls: sometimes\n", filepath.Join(dir, "data", "admin.sock")},
		{"server:\n  data_dir: data\n  admin_socket: run/a.sock\n  max_connections: many\n", filepath.Join(dir, "data", "run", "a.sock")},
		{"server:\n  admin_socket: /run/umbra.sock\n", "/run/umbra.sock"},
		{"transport: {}\n", "/var/lib/umbra/admin.sock"},
	} {
		f := filepath.Join(dir, "u.yaml")
		if err := os.WriteFile(f, []byte(tc.text), 0o600); err != nil {
			t.Fatal(err)
		}
		if got := AdminSocketOf(f); got != tc.want {
			t.Errorf("%q: %q, want %q", tc.text, got, tc.want)
		}
	}
	// The data directory of a file mid-edit, read the same way.
	f := filepath.Join(dir, "u.yaml")
	os.WriteFile(f, []byte("server:\n  role: hub\n  role: edge\n  data_dir: d1\n  admin_socket: /run/u.sock\n"), 0o600)
	if got := DataDirOf(f); got != filepath.Join(dir, "d1") {
		t.Errorf("DataDirOf of a file with a duplicate key: %q", got)
	}
	if got := AdminSocketOf(filepath.Join(dir, "missing.yaml")); got != "" {
		t.Errorf("a missing file: %q", got)
	}
}
