package main

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// SMTP-8, OPS-1 (README: "an AUTH exchange that spans the reload … is
// judged when its response arrives"): by a real SIGHUP, an AUTH LOGIN
// whose user name came before the reload and whose password comes
// after it is checked against the credentials file as reloaded — the
// account removed gets 535 5.7.8, not 235; a password changed takes the
// new one — and so is AUTH PLAIN's response to a 334 sent before it.
func TestSMTP8SighupAuthExchangeSpanningReloadJudgedByCredentialsInForce(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	listen := addrInRange(t, "127.0.0.131", 8100, 100)
	creds := filepath.Join(dir, "credentials")
	os.WriteFile(creds, []byte("alice:"+hashOf(t, "alice-pw")+"\nbob:"+hashOf(t, "bob-pw")+"\n"), 0o600)
	cfg, _ := authReloadHubAt(t, dir, listen, creds, "127.0.0.131")
	d := startUmbra(t, cfg, listen)
	d.dumpLogIfFailed()
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	open := func() *rawSession {
		c := rawDialFrom(t, "127.0.0.146", listen)
		c.cmd("EHLO client.example", "250")
		return c
	}
	alice, bob, plain := open(), open(), open()
	alice.cmd("AUTH LOGIN", "334")
	alice.cmd(b64("alice"), "334")
	bob.cmd("AUTH LOGIN", "334")
	bob.cmd(b64("bob"), "334")
	plain.cmd("AUTH PLAIN", "334")
	reloadDaemon(t, d, func() { // alice removed, bob's password changed
		os.WriteFile(creds, []byte("bob:"+hashOf(t, "bob-new")+"\n"), 0o600)
	})
	time.Sleep(100 * time.Millisecond)
	if r := alice.cmd(b64("alice-pw"), ""); !strings.HasPrefix(r[len(r)-1], "535 5.7.8") {
		t.Errorf("AUTH LOGIN of an account the reload removed, its password sent after the reload: %v (want 535 5.7.8)", r)
	}
	bob.cmd(b64("bob-new"), "235")
	bob.cmd("MAIL FROM:<bob@example.test>", "250")
	bob.cmd("RCPT TO:<x@outside.example>", "250")
	if r := plain.cmd(plainResponse("alice", "alice-pw"), ""); !strings.HasPrefix(r[len(r)-1], "535 5.7.8") {
		t.Errorf("AUTH PLAIN's response after the reload, for an account it removed: %v (want 535 5.7.8)", r)
	}
	if b, _ := os.ReadFile(d.log); strings.Contains(string(b), "authentication revoked") {
		t.Errorf("an exchange judged by the credentials before the reload, then revoked:\n%s", b)
	}
}
