package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// OPS-5 (opsrt43 O2): with console.listen set and no
// console.credentials_file, every SMTP AUTH account of the receive
// connector whose file the console falls back to can log into the
// console; config check (and the start, the same list) warns of it at
// the line of console.listen, naming the connector and how to give the
// console its own file. With its own file there is no such warning.
func TestConfigCheckWarnsConsoleSharesSMTPAccounts(t *testing.T) {
	h := newConsoleCredsDaemon(t)
	conn, own := filepath.Join(h.dir, "smtp.creds"), filepath.Join(h.dir, "console.creds")
	for _, f := range []string{conn, own} {
		if err := os.WriteFile(f, []byte(credLine(t, "ops", "secret")), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	want := h.cfg + `:5: warning: every SMTP AUTH account of receive connector "in"`
	h.write(t, "", conn)
	out, _ := exec.Command(umbraBin, "config", "check", h.cfg).CombinedOutput()
	if !strings.Contains(string(out), want) || !strings.Contains(string(out), "console.credentials_file") {
		t.Errorf("console on the connector's accounts: config check says\n%s\nwant a warning starting %q that names console.credentials_file", out, want)
	}
	h.write(t, own, conn)
	out, _ = exec.Command(umbraBin, "config", "check", h.cfg).CombinedOutput()
	if strings.Contains(string(out), "SMTP AUTH account") {
		t.Errorf("console with its own credentials file: config check says\n%s", out)
	}
}
