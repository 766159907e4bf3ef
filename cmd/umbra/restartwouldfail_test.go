package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// rrAddr is a free TCP address on ip with a port in 15000-15999.
func rrAddr(t testing.TB, ip string) string { return addrInRange(t, ip, 15000, 1000) }

// OPS-2: server.admin_socket changed to a place the socket
// cannot be made (another process answers there). The reload
// logs "the admin socket was not moved; it stays where it was" and
// keeps the old socket; a restart refuses the file (admin.Listen). The
// gauge umbra_config_restart_would_fail must say 1.
func TestOPS2RestartWouldFailAdminSocketNotMoved(t *testing.T) {
	dir := t.TempDir()
	listen := rrAddr(t, "127.0.0.212")
	metricsAddr := rrAddr(t, "127.0.0.212")
	// Another process answers at the next path (as in
	// TestReloadMovesAdminSocket): the reload keeps the old socket.
	held := filepath.Join(dir, "held.sock")
	hl, err := net.Listen("unix", held)
	if err != nil {
		t.Fatal(err)
	}
	defer hl.Close()
	go func() {
		for {
			c, err := hl.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	cfg := filepath.Join(dir, "hub.yaml")
	write := func(sock string) {
		os.WriteFile(cfg, []byte(fmt.Sprintf(`server: {name: hub.restart.test, data_dir: %s, metrics_listen: %q, admin_socket: %s}
accepted_domains: [{domain: example.test, type: authoritative, recipient_validation: "off"}]
mailbox: {maildir: maildir}
%s`, filepath.Join(dir, "data"), metricsAddr, sock, submitConnector("in", listen, ``))), 0o600)
	}
	write(filepath.Join(dir, "ctl.sock"))
	d := startUmbra(t, cfg, listen)
	d.dumpLogIfFailed()
	if got := seriesValue(scrapeOf(t, metricsAddr), "umbra_config_restart_would_fail"); got != 0 {
		t.Fatalf("fresh start: umbra_config_restart_would_fail %v, want 0", got)
	}
	write(held)
	got := seriesValue(hupCounted(t, d, metricsAddr, 1, "ok", "failed"), "umbra_config_restart_would_fail")
	d.kill()
	// A restart with this file: refused.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, umbraBin, "serve", "--config", cfg).CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("a restart with admin_socket where another process answers ran")
	}
	if err == nil {
		t.Fatalf("a restart with admin_socket where another process answers started")
	}
	t.Logf("the restart refused the file: %v\n%s", err, out)
	if got != 1 {
		t.Errorf("reload left server.admin_socket at its old place (move failed) and a restart refuses the file, but umbra_config_restart_would_fail = %v, want 1", got)
	}
}

// OPS-2: back_pressure.enabled changed. The reload logs
// "reloaded; these settings changed but apply only after a restart"
// naming back_pressure.enabled (reloadBackPressure), which the README
// lists among the settings that set umbra_config_restart_would_fail to
// 1; the gauge stays 0 (pending knows only restartOnly's keys).
func TestOPS2RestartWouldFailBackPressureEnabled(t *testing.T) {
	dir := t.TempDir()
	listen := rrAddr(t, "127.0.0.213")
	metricsAddr := rrAddr(t, "127.0.0.213")
	cfg := filepath.Join(dir, "hub.yaml")
	write := func(enabled bool) {
		os.WriteFile(cfg, []byte(fmt.Sprintf(`server: {name: hub.restart.test, data_dir: %s, metrics_listen: %q}
accepted_domains: [{domain: example.test, type: authoritative, recipient_validation: "off"}]
mailbox: {maildir: maildir}
back_pressure: {enabled: %v}
%s`, filepath.Join(dir, "data"), metricsAddr, enabled, submitConnector("in", listen, ``))), 0o600)
	}
	write(true)
	d := startUmbra(t, cfg, listen)
	d.dumpLogIfFailed()
	defer d.kill()
	write(false)
	s := hupCounted(t, d, metricsAddr, 1, "ok")
	b, _ := os.ReadFile(d.log)
	if !strings.Contains(string(b), "back_pressure.enabled") {
		t.Fatalf("the reload did not name back_pressure.enabled as needing a restart:\n%s", b)
	}
	if got := seriesValue(s, "umbra_config_restart_would_fail"); got != 1 {
		t.Errorf("back_pressure.enabled changed (logged: apply only after a restart), umbra_config_restart_would_fail = %v, want 1", got)
	}
}
