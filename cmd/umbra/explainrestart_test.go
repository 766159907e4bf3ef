package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// rt19 fixg F3 (OPS-): a setting that needs a restart is explained as
// the running daemon has it. An authoritative domain added first and
// server.postmaster unset changes the derived postmaster only at a
// restart; after the reload route explain still names the postmaster
// RCPT TO:<postmaster> goes to, not the one the reloaded file derives.
func TestRouteExplainPostmasterAsRunning(t *testing.T) {
	dir := t.TempDir()
	listen := freeAddr(t, "127.0.0.183")
	cfgPath := umbraHub(t, dir, listen, "1h", "internet", "", "")
	d := startUmbra(t, cfgPath, listen)
	sock := filepath.Join(dir, "data", "admin.sock")
	explain := func() string {
		t.Helper()
		cmd := exec.Command(umbraBin, "route", "explain", "--socket", sock, "postmaster")
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("route explain postmaster: %v\n%s%s", err, out, stderr.String())
		}
		return string(out)
	}
	if out := explain(); !strings.Contains(out, "postmaster@umbra.test") {
		t.Fatalf("before the reload:\n%s", out)
	}
	editConfig(t, cfgPath, "accepted_domains:\n", "accepted_domains:\n  - domain: first.test\n    type: authoritative\n    recipient_validation: off\n")
	d.hup()
	waitCond(t, "the reload", 30*time.Second, func() bool {
		b, _ := os.ReadFile(d.log)
		return strings.Contains(string(b), "postmaster@umbra.test -> postmaster@first.test")
	})
	if out := explain(); !strings.Contains(out, "postmaster@umbra.test") || strings.Contains(out, "postmaster@first.test") {
		d.dumpLog()
		t.Errorf("after the reload route explain names another postmaster than the daemon's (postmaster@umbra.test):\n%s", out)
	}
}
