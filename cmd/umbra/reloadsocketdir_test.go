package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// OPS-1: the README (Admin socket) says a reload whose new
// server.admin_socket cannot be made ("its directory cannot be made")
// keeps the socket where it was, logs "the admin socket was not moved"
// and applies the rest of the reload: the check of the written
// directories at a reload (movedDirsReady) leaves the socket's to the
// move, so a receive connector changed in the same edit is applied.
func TestOPS1AdminSocketMoveToUnwritableDirLeavesRestOfReloadApplied(t *testing.T) {
	const bad = "/proc/1"
	if err := syscall.Access(bad, 0x2|0x1); err == nil {
		t.Skipf("%s is writable here", bad)
	}
	dir := t.TempDir()
	listen := rrAddr(t, "127.0.0.214")
	cfg := filepath.Join(dir, "hub.yaml")
	write := func(sock, rcptMax string) {
		os.WriteFile(cfg, []byte(fmt.Sprintf(`server: {name: hub.sock.test, data_dir: %s, metrics_listen: "", admin_socket: %s}
accepted_domains: [{domain: example.test, type: authoritative, recipient_validation: "off"}]
mailbox: {maildir: maildir}
%s`, filepath.Join(dir, "data"), sock, submitConnector("in", listen, "limits: {max_recipients: "+rcptMax+"}"))), 0o600)
	}
	write(filepath.Join(dir, "ctl.sock"), "100")
	d := startUmbra(t, cfg, listen)
	d.dumpLogIfFailed()
	// One edit: a connector's limit and the socket moved where it
	// cannot be made.
	write(bad+"/sub/admin.sock", "5")
	d.hup()
	waitCond(t, "the reload's outcome", 30*time.Second, func() bool {
		b := string(mustRead(t, d.log))
		return strings.Contains(b, "reload failed") || strings.Contains(b, "the admin socket was not moved")
	})
	time.Sleep(500 * time.Millisecond)
	b := string(mustRead(t, d.log))
	if strings.Contains(b, "reload failed") {
		for _, l := range strings.Split(b, "\n") {
			if strings.Contains(l, "reload failed") {
				t.Logf("%s", l)
			}
		}
		t.Errorf("the whole reload was refused (max_recipients 100 -> 5 not applied), though the README says the socket stays where it was, `the admin socket was not moved` is logged and the rest of the reload applies")
	}
}
