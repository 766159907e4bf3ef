package main

import (
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// NEW-5: a reload runs the checks serve and config check run, so what
// they refuse at its line SIGHUP refuses at the same line (a binding on
// an address this machine does not have was refused with the bare bind
// error), and each failed reload is logged once.
func TestReloadRefusesAtTheLineServeDoes(t *testing.T) {
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_nonlocal_bind"); err != nil || strings.TrimSpace(string(b)) != "0" {
		t.Skip("this system binds addresses it does not have: nothing to refuse")
	}
	dir := t.TempDir()
	addr := freeAddr(t, "127.0.0.2")
	_, port, _ := strings.Cut(addr, ":")
	cert := selfSignedCert(t, "hub.reload.test")
	certFile := filepath.Join(dir, "tls.crt")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]}), 0o600)
	cfg := filepath.Join(dir, "hub.yaml")
	write := func(bindings, tls string) {
		os.WriteFile(cfg, []byte(fmt.Sprintf(`server: {name: hub.reload.test, data_dir: %s, metrics_listen: ""}
accepted_domains: [{domain: reload.test, type: authoritative, recipient_validation: "off"}]
mailbox: {maildir: maildir}
receive_connectors:
  - name: in
    bindings: %s
    remote_ranges: ["127.0.0.0/8"]
    permissions: {anonymous: [submit]}%s
`, filepath.Join(dir, "data"), bindings, tls)), 0o600)
	}
	taken, err := net.Listen("tcp", "127.0.0.3:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	good := fmt.Sprintf("[%q]", addr)
	write(good, "")
	hub := startUmbra(t, cfg, addr)

	reloads := func() (failed, ok int, log string) {
		b, _ := os.ReadFile(hub.log)
		return strings.Count(string(b), "reload failed"), strings.Count(string(b), "configuration reloaded"), string(b)
	}
	for i, c := range []struct {
		bindings, tls, want string
		serveOnly           bool // refused by serve and SIGHUP, which open listeners; not by config check
	}{
		{fmt.Sprintf("[%q, \"192.0.2.7:%s\"]", addr, port), "",
			"hub.yaml:6: receive_connectors[0].bindings[1] 192.0.2.7:" + port + ": 192.0.2.7 is not an address of this machine", false},
		// The key file holds the certificate: its loader, at the key's line.
		{good, fmt.Sprintf("\n    tls: {cert_file: %s, key_file: %s}", certFile, certFile),
			"hub.yaml:9: receive_connectors[0].tls.key_file " + certFile + ": found a certificate rather than a key", false},
		// A new binding another process holds, at its line.
		{fmt.Sprintf("[%q, %q]", addr, taken.Addr().String()), "",
			"hub.yaml:6: receive_connectors[0].bindings[1] " + taken.Addr().String() + ": listen tcp " + taken.Addr().String() + ": bind: address already in use", true},
	} {
		write(c.bindings, c.tls)
		if !c.serveOnly {
			b, err := exec.Command(umbraBin, "config", "check", cfg).CombinedOutput()
			if out := string(b); err == nil || !strings.Contains(out, c.want) {
				t.Fatalf("case %d: config check: %v\n%s\nwant %s", i, err, out, c.want)
			}
		}
		failedBefore, okBefore, _ := reloads()
		hub.hup()
		waitCond(t, "the failed reload in the log", 10*time.Second, func() bool { f, _, _ := reloads(); return f > failedBefore })
		// A good file then reloads: the failed reload's goroutine is done.
		write(good, "")
		hub.hup()
		waitCond(t, "the good reload in the log", 10*time.Second, func() bool { _, ok, _ := reloads(); return ok > okBefore })
		failed, _, log := reloads()
		if failed != failedBefore+1 {
			t.Errorf("case %d: %d reload failures logged for one SIGHUP, want 1:\n%s", i, failed-failedBefore, log)
		}
		if !strings.Contains(log, c.want) {
			t.Errorf("case %d: the reload's error does not say %q:\n%s", i, c.want, log)
		}
	}
	if r := rawSend(t, addr, "s@example.org", []string{"a@reload.test"}, "Subject: after\r\n\r\nhello"); !strings.HasPrefix(r, "250") {
		t.Fatalf("DATA after the refused reloads: %s", r)
	}
}
