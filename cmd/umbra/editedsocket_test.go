package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"umbra/internal/config"
)

// OPS-3: a running, ready daemon whose configuration file was edited
// since its start or last reload to name another admin socket, or
// another data_dir, is not "starting" (exit 75, forever: nothing will
// answer at the new path) nor "not running" (exit 69 though it runs):
// a command says it runs, where its socket is, and how to reach it —
// SIGHUP, or --socket OLD — exit 69 (rt26c F2).
func TestCommandsTellARunningDaemonOfAnEditedFile(t *testing.T) {
	dir := t.TempDir()
	listen, sinkAddr := freeAddr(t, "127.0.0.195"), freeAddr(t, "127.0.0.196")
	cfg := relayConfig(t, dir, listen, sinkAddr)
	d := startUmbra(t, cfg, listen)
	d.dumpLogIfFailed()
	c, err := config.Load(cfg)
	if err != nil {
		t.Fatal(err)
	}
	old := c.Server.AdminSocket
	orig, _ := os.ReadFile(cfg)
	if _, code := cli(t, cfg, "queue", "list"); code != 0 {
		t.Fatalf("queue list before the edit: exit %d", code)
	}
	for _, tc := range []struct{ name, from, to, want string }{
		{"admin_socket", "  metrics_listen: \"\"\n", "  metrics_listen: \"\"\n  admin_socket: " + filepath.Join(dir, "ctl.sock") + "\n", "SIGHUP"},
		{"data_dir", "  data_dir: " + filepath.Join(dir, "data") + "\n", "  data_dir: " + filepath.Join(dir, "newdata") + "\n", "restart"},
	} {
		os.WriteFile(cfg, orig, 0o600)
		editConfig(t, cfg, tc.from, tc.to)
		_, errOut, code := cliAll(t, cfg, "queue", "list")
		if code != exitUnavailable || !strings.Contains(errOut, "umbra runs, but") || !strings.Contains(errOut, "--socket "+old) ||
			!strings.Contains(errOut, tc.want) || strings.Contains(errOut, "starting") {
			t.Errorf("%s edited, no reload: exit %d %q\nwant exit %d: umbra runs, but …, --socket %s, %s", tc.name, code, errOut, exitUnavailable, old, tc.want)
		}
		if _, code := cli(t, cfg, "--socket", old, "queue", "list"); code != 0 {
			t.Errorf("%s edited: queue list --socket %s: exit %d", tc.name, old, code)
		}
	}
	os.WriteFile(cfg, orig, 0o600)
	if _, code := cli(t, cfg, "queue", "list"); code != 0 {
		t.Errorf("queue list with the file restored: exit %d", code)
	}
}
