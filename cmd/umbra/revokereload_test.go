package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// OPS-1 (rr27 F3): SIGHUP reloads the receive connectors. The console
// (on, no console.credentials_file) falls back to the receive
// connector's AUTH file. The operator revokes alice's SMTP account (her
// password leaked), leaving the transport server account hub2 — a file
// the connector accepts. The SIGHUP that applies it was refused as a
// whole because the console would have nobody to log in (a check of the
// start run by every reload, for a console the reload does not touch):
// alice kept relaying. The reload applies it; the console's part is a
// warning.
func TestReloadRevokingLastAuthUserIsApplied(t *testing.T) {
	dir := t.TempDir()
	listen := freeAddr(t, "127.0.0.150")
	creds := filepath.Join(dir, "credentials")
	alice, _ := bcrypt.GenerateFromPassword([]byte("alice-pw"), bcrypt.MinCost)
	hub2, _ := bcrypt.GenerateFromPassword([]byte("hub2-pw"), bcrypt.MinCost)
	os.WriteFile(creds, []byte("alice:"+string(alice)+"\nhub2:"+string(hub2)+":server\n"), 0o600)
	certFile, keyFile := writeCertFiles(t, dir, selfSignedCert(t, "localhost"))
	cfg := filepath.Join(dir, "hub.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`server: {name: hub.revoke.test, data_dir: %s, metrics_listen: ""}
accepted_domains: [{domain: example.test, type: authoritative, recipient_validation: "off"}]
mailbox: {maildir: maildir}
console:
  listen: %s
  cert_file: %s
  key_file: %s
%s`, filepath.Join(dir, "data"), freeAddr(t, "127.0.0.150"), certFile, keyFile, submitConnector("in", listen,
		`auth: {mechanisms: [PLAIN], credentials_file: `+creds+`, allow_insecure: true}`))), 0o600)
	d := startUmbra(t, cfg, listen)
	d.dumpLogIfFailed()
	if r := authPlain(t, listen, "alice", "alice-pw"); !strings.HasPrefix(r, "235") {
		t.Fatalf("alice before the revocation: %q", r)
	}
	os.WriteFile(creds, []byte("hub2:"+string(hub2)+":server\n"), 0o600) // alice revoked
	d.hup()
	waitCond(t, "the reload's outcome in the log", 10*time.Second, func() bool {
		b, _ := os.ReadFile(d.log)
		return strings.Contains(string(b), "reload failed") || strings.Contains(string(b), "msg=\"configuration reloaded\"")
	})
	if r := authPlain(t, listen, "alice", "alice-pw"); strings.HasPrefix(r, "235") {
		b, _ := os.ReadFile(d.log)
		var lines []string
		for _, l := range strings.Split(string(b), "\n") {
			if strings.Contains(l, "reload") {
				lines = append(lines, l)
			}
		}
		t.Errorf("alice, removed from the AUTH file and reloaded, still authenticates: %q\n%s", r, strings.Join(lines, "\n"))
	}
}
