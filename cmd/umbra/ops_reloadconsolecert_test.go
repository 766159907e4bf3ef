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

// OPS-1 (reread of opsfix27): the README says a reload warns of what it
// finds in the parts only a restart applies — the web console's
// certificate among them — and applies the rest. A console certificate
// file moved away (the running console holds its certificate in memory)
// still refuses the whole reload, through the "names files that cannot
// be read" step, which checkReload does not mark start-only: the
// revocation of alice's SMTP AUTH account is not applied.
func TestReloadWithConsoleCertMissingStillApplies(t *testing.T) {
	dir := t.TempDir()
	listen := freeAddr(t, "127.0.0.215")
	creds := filepath.Join(dir, "credentials")
	alice, _ := bcrypt.GenerateFromPassword([]byte("alice-pw"), bcrypt.MinCost)
	bob, _ := bcrypt.GenerateFromPassword([]byte("bob-pw"), bcrypt.MinCost)
	os.WriteFile(creds, []byte("alice:"+string(alice)+"\nbob:"+string(bob)+"\n"), 0o600)
	certFile, keyFile := writeCertFiles(t, dir, selfSignedCert(t, "localhost"))
	cfg := filepath.Join(dir, "hub.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`server: {name: hub.revoke.test, data_dir: %s, metrics_listen: ""}
accepted_domains: [{domain: example.test, type: authoritative, recipient_validation: "off"}]
mailbox: {maildir: maildir}
console:
  listen: %s
  cert_file: %s
  key_file: %s
%s`, filepath.Join(dir, "data"), freeAddr(t, "127.0.0.215"), certFile, keyFile, submitConnector("in", listen,
		`auth: {mechanisms: [PLAIN], credentials_file: `+creds+`, allow_insecure: true}`))), 0o600)
	d := startUmbra(t, cfg, listen)
	d.dumpLogIfFailed()
	if r := authPlain(t, listen, "alice", "alice-pw"); !strings.HasPrefix(r, "235") {
		t.Fatalf("alice before the revocation: %q", r)
	}
	os.Rename(certFile, certFile+".old")                        // the console's certificate being renewed
	os.WriteFile(creds, []byte("bob:"+string(bob)+"\n"), 0o600) // alice revoked
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
		t.Errorf("alice, removed from the AUTH file and reloaded, still authenticates (the console's certificate is missing, a part the reload does not apply): %q\n%s", r, strings.Join(lines, "\n"))
	}
}
