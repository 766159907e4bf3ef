package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// rtefixAddr is a free TCP address on ip with a port in 9000-9999.
func rtefixAddr(t testing.TB, ip string) string { return addrInRange(t, ip, 9000, 1000) }

// OPS-1, OPS-2 (rt28e F4): a reload whose data_dir names the running
// data directory through a symbolic link (ln -sfn data blink; data_dir:
// blink) is no change: a restart opens the same database. Before, the
// paths were compared as text: the admin socket's move to blink/admin.sock
// met the daemon's own socket there ("ERROR the admin socket was not
// moved … in use by another process"), server.data_dir and tracking.path
// were named as changed, and umbra_config_restart_would_fail went to 1.
// Directories and files are compared by identity (device and inode).
func TestOPS1ReloadDataDirThroughSymlinkIsNoChange(t *testing.T) {
	dir := t.TempDir()
	listen := rtefixAddr(t, "127.0.0.140")
	metricsAddr := rtefixAddr(t, "127.0.0.140")
	data := filepath.Join(dir, "data")
	cfg := filepath.Join(dir, "hub.yaml")
	write := func(dataDir string) {
		os.WriteFile(cfg, []byte(fmt.Sprintf(`server: {name: hub.link.test, data_dir: %s, metrics_listen: %q}
accepted_domains: [{domain: example.test, type: authoritative, recipient_validation: "off"}]
mailbox: {maildir: maildir}
%s`, dataDir, metricsAddr, submitConnector("in", listen, ""))), 0o600)
	}
	write(data)
	d := startUmbra(t, cfg, listen)
	d.dumpLogIfFailed()
	reloads := 0
	hup := func() string {
		t.Helper()
		reloads++
		return hupCounted(t, d, metricsAddr, reloads, "ok")
	}
	if err := os.Symlink("data", filepath.Join(dir, "blink")); err != nil {
		t.Fatal(err)
	}
	write(filepath.Join(dir, "blink"))
	s := hup()
	if got := seriesValue(s, "umbra_config_restart_would_fail"); got != 0 {
		t.Errorf("umbra_config_restart_would_fail %v after a reload naming the data dir through a link, want 0", got)
	}
	logs, _ := os.ReadFile(d.log)
	for _, bad := range []string{"admin socket was not moved", "in use by another process", "server.data_dir", "tracking.path", "apply only after a restart"} {
		if strings.Contains(string(logs), bad) {
			t.Errorf("the log says %q after a reload naming the same data dir through a link:\n%s", bad, logs)
		}
	}
	// The CLI, reading the file (blink/admin.sock), reaches the daemon.
	if out, code := cli(t, cfg, "queue", "list"); code != 0 {
		t.Errorf("queue list through the link: exit %d\n%s", code, out)
	}
	// Another directory is a change, as before.
	write(filepath.Join(dir, "other"))
	if got := seriesValue(hup(), "umbra_config_restart_would_fail"); got != 1 {
		t.Errorf("umbra_config_restart_would_fail %v after data_dir named another directory, want 1", got)
	}
}
