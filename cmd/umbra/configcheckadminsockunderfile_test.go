package main

import (
	"os"
	"path/filepath"
	"testing"
)

// OPS-3: an admin socket two levels under a file
// (server.admin_socket FILE/sub/admin.sock) is refused by config check,
// as serve refuses it at its start (it cannot make FILE/sub). The
// loader's validatePaths looked at the socket's own directory only
// (os.Stat of FILE/sub fails with ENOTDIR: no refusal there) while
// dirCheck takes a file on the way for the loader's refusal: nobody
// said it, config check exited 0, serve refused. The loader now walks
// every written path's parents (TestOPS3EveryWrittenPathsParentsWalked).
func TestOPS3ConfigCheckAdminSocketUnderFileRefused(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "afile")
	os.WriteFile(file, []byte("x"), 0o600)
	cfg := filepath.Join(dir, "hub.yaml")
	os.WriteFile(cfg, []byte(`server: {name: hub.under.test, data_dir: `+filepath.Join(dir, "data")+`, metrics_listen: "", admin_socket: `+filepath.Join(file, "sub", "admin.sock")+`}
accepted_domains: [{domain: example.test, type: authoritative, recipient_validation: "off"}]
mailbox: {maildir: md}
`+submitConnector("in", addr44k(t, "127.0.0.216"))), 0o600)
	out, _, code := runBounded(t, "config", "check", cfg)
	sout, _, scode := runBounded(t, "serve", "-c", cfg)
	if scode == 0 {
		t.Skipf("serve started with the socket under a file:\n%s", sout)
	}
	if code != exitConfig {
		t.Errorf("config check: exit %d, want %d (serve refuses this configuration: exit %d):\nconfig check says:\n%s\nserve says:\n%s", code, exitConfig, scode, out, sout)
	}
}
