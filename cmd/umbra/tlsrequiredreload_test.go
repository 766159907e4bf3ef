package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"umbra/internal/testsupport"
)

// SMTP-2, OPS-1 (rrfront42, front42 F2): a SIGHUP whose file sets
// tls.required: true beside auth.allow_insecure: true on a receive
// connector — refused at its line since front42, an upgrade hazard for
// a file of an earlier release — is refused as a whole, saying which
// key and why; the configuration in force stays: a session logged in in
// clear before it still relays, and a new connection is still offered
// AUTH in clear.
func TestSMTP2ReloadOfAllowInsecureBesideTLSRequiredKeepsTheOld(t *testing.T) {
	dir := t.TempDir()
	listen := testsupport.AddrInRange(t, "127.0.0.142", 7800, 100)
	creds := filepath.Join(dir, "credentials")
	os.WriteFile(creds, []byte("alice:"+hashOf(t, "alice-pw")+"\n"), 0o600)
	cfg, text := authReloadHubAt(t, dir, listen, creds, "127.0.0.142")
	certFile, keyFile := writeCertFiles(t, dir, selfSignedCert(t, "hub.authreload.test"))
	d := startUmbra(t, cfg, listen)
	d.dumpLogIfFailed()

	c := rawDialFrom(t, "127.0.0.142", listen)
	c.cmd("EHLO client.example", "250")
	c.cmd("AUTH PLAIN "+plainResponse("alice", "alice-pw"), "235")

	text = strings.Replace(text, "    max_acknowledgement_delay: 0s\n",
		"    max_acknowledgement_delay: 0s\n    tls: {cert_file: "+certFile+", key_file: "+keyFile+", required: true}\n", 1)
	if err := os.WriteFile(cfg, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	d.hup()
	waitCond(t, "the reload's outcome in the log", 10*time.Second, func() bool {
		b, _ := os.ReadFile(d.log)
		return reloadOutcome(string(b))
	})
	failed := logLinesWith(d, "reload failed")
	if len(failed) != 1 || !strings.Contains(failed[0], "auth.allow_insecure is set but") || !strings.Contains(failed[0], "tls.required is true") {
		t.Fatalf("the reload setting tls.required beside allow_insecure: %q; want one refusal naming both keys", failed)
	}
	t.Log(failed[0])
	c.cmd("MAIL FROM:<alice@example.test>", "250")
	c.cmd("RCPT TO:<x@outside.example>", "250")
	n := rawDialFrom(t, "127.0.0.142", listen)
	if r := n.cmd("EHLO client.example", "250"); !strings.Contains(strings.Join(r, "\n"), "AUTH") {
		t.Errorf("EHLO in clear after the refused reload offers no AUTH: %v", r)
	}
	n.cmd("AUTH PLAIN "+plainResponse("alice", "alice-pw"), "235")
}
