package main

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// db verify's refusals say what verify takes, and it is what it then
// takes: running, the database is refused as in use, naming db backup
// (not "a stopped server's database"); stopped, the same file is named
// as the server's own database, not a backup, with the way to one; the
// backup db backup writes is verified sound. OPS- (db verify, rt24c F7).
func TestDBVerifyRefusalsSayWhatItTakes(t *testing.T) {
	dir := t.TempDir()
	listen, sink := freeAddr(t, "127.0.0.1"), reserveAddr(t, "127.0.0.1")
	cfg := relayConfig(t, dir, listen, sink)
	d := startUmbra(t, cfg, listen)
	live := filepath.Join(dir, "data", "queue.db")
	verify := func(file string) (string, int) {
		t.Helper()
		out, err := exec.Command(umbraBin, "--config", cfg, "db", "verify", file).CombinedOutput()
		if ee, ok := err.(*exec.ExitError); ok {
			return string(out), ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return string(out), 0
	}
	out, code := verify(live)
	if code != 1 || !strings.Contains(out, "in use") || strings.Contains(out, "stopped server") ||
		!strings.Contains(out, "verify checks a backup made by umbra db backup") {
		t.Fatalf("verify of the running database: exit %d %q", code, out)
	}
	backup := filepath.Join(dir, "b.db")
	if out, code := cli(t, cfg, "db", "backup", backup); code != 0 {
		t.Fatalf("db backup: exit %d %q", code, out)
	}
	d.kill()
	out, code = verify(live)
	if code != 1 || !strings.Contains(out, "is the transport database of hub.e2e.test (database id ") ||
		!strings.Contains(out, "not a backup made by umbra db backup") || !strings.Contains(out, "run umbra db backup FILE") {
		t.Fatalf("verify of the stopped server's database: exit %d %q", code, out)
	}
	if out, code := verify(backup); code != 0 || !strings.Contains(out, "every checksum matches") {
		t.Fatalf("verify of its backup: exit %d %q", code, out)
	}
}
