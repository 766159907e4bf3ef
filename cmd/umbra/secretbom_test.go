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

// SMTP-4, OPS-1: a send connector's password file saved as "UTF-8 with
// BOM" with Windows line ends (an editor's default) logs in with the
// password as written, as a credentials or recipients file is read: the
// byte-order mark at the file's start and the CR of its line end are no
// part of the password. Read as they were, the smart host refused the
// login (535) and the mail waited.
func TestSMTP4PasswordFileWithBOM(t *testing.T) {
	dir := t.TempDir()
	hub, edge := opsAddr(t, "127.0.0.122"), opsAddr(t, "127.0.0.123")
	certFile, keyFile := writeCertFiles(t, dir, selfSignedCert(t, "umbra.test"))
	hash, _ := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	creds, pw := filepath.Join(dir, "credentials"), filepath.Join(dir, "pw")
	os.WriteFile(creds, []byte("edge:"+string(hash)+"\n"), 0o600)
	os.WriteFile(pw, []byte("\ufeffs3cret\r\n"), 0o600)
	hubDir := filepath.Join(dir, "hub")
	os.MkdirAll(hubDir, 0o700)
	hubCfg := writeConfig(t, hubDir, fmt.Sprintf(`server: {name: hub.umbra.test, role: hub, data_dir: %s, metrics_listen: ""}
accepted_domains: [{domain: umbra.test, type: authoritative, recipient_validation: "off"}]
mailbox: {maildir: maildir}
receive_connectors:
  - name: in
    bindings: [%q]
    remote_ranges: ["127.0.0.0/8"]
    tls: {cert_file: %q, key_file: %q}
    auth: {mechanisms: [PLAIN], credentials_file: %q, required: true}
    permissions: {authenticated: [submit]}
`, filepath.Join(hubDir, "data"), hub, certFile, keyFile, creds))
	edgeDir := filepath.Join(dir, "edge")
	os.MkdirAll(edgeDir, 0o700)
	edgeCfg := writeConfig(t, edgeDir, fmt.Sprintf(`server: {name: edge.umbra.test, role: edge, data_dir: %s, metrics_listen: ""}
transport: {retry_schedule: [1h]}
accepted_domains: [{domain: umbra.test, type: internal_relay, recipient_validation: "off"}]
receive_connectors:
  - name: in
    bindings: [%q]
    remote_ranges: ["127.0.0.0/8"]
    permissions: {anonymous: [submit]}
    max_acknowledgement_delay: 0s
send_connectors:
  - name: to-hub
    address_spaces: [{domain: umbra.test, cost: 1}]
    smart_hosts: [%q]
    tls: required
    auth: {username: edge, password_file: %q}
`, filepath.Join(edgeDir, "data"), edge, hub, pw))
	h := startUmbra(t, hubCfg, hub)
	h.dumpLogIfFailed()
	e := startUmbra(t, edgeCfg, edge)
	e.dumpLogIfFailed()
	c := rawDial(t, edge)
	c.cmd("EHLO client.test", "250")
	c.cmd("MAIL FROM:<a@client.test>", "250")
	c.cmd("RCPT TO:<alice@umbra.test>", "250")
	c.cmd("DATA", "354")
	c.cmd("Subject: bom\r\n\r\nbody\r\n.", "250")
	c.cmd("QUIT", "221")
	maildir := filepath.Join(hubDir, "data", "maildir", "umbra.test", "alice", "new", "*")
	waitCond(t, "the edge's outcome", 20*time.Second, func() bool {
		f, _ := filepath.Glob(maildir)
		b, _ := os.ReadFile(e.log)
		return len(f) == 1 || strings.Contains(string(b), "event=defer")
	})
	if f, _ := filepath.Glob(maildir); len(f) != 1 {
		b, _ := os.ReadFile(e.log)
		t.Fatalf("the message did not reach the hub: the edge's password file with a BOM and CRLF did not log in:\n%s", grepLines(string(b), "defer"))
	}
}

// EDGE-1: ldap.bind_password_file is read by the rule of every password
// file (filelimit.Secret): a byte-order mark and a CRLF line end are no
// part of the password (it kept the mark, and the bind failed).
func TestEDGE1LDAPPasswordFileWithBOM(t *testing.T) {
	f := filepath.Join(t.TempDir(), "ldap.pw")
	os.WriteFile(f, []byte("\ufeffservice-pw\r\n"), 0o600)
	if pw, err := ldapPassword(f); err != nil || pw != "service-pw" {
		t.Errorf("ldap password of a file with a BOM and CRLF: %q, %v; want service-pw", pw, err)
	}
	os.WriteFile(f, []byte("\ufeff\n"), 0o600)
	if _, err := ldapPassword(f); err == nil || !strings.Contains(err.Error(), "is empty") {
		t.Errorf("a file of only a BOM: %v; want refused as empty", err)
	}
}
