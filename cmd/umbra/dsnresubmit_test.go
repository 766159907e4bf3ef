package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TD- (dumpster redelivery) with Dovecot and the shipped Sieve rule
// (rt38 F1): a DSN delivered over LMTP into a local sender's mailbox is
// kept in the database's dumpster like any delivery; a resubmit after
// another mailbox was lost brings it back too, and the sender's mailbox,
// which never lost it, drops it as a duplicate — the DSN carries its own
// X-Umbra-Org-Id into the mailbox as every message does. Before, it
// carried none, and the sender got the DSN a second time while every
// real message of the same resubmit was dropped.
func TestDovecotSieveDropsResubmittedDSN(t *testing.T) {
	needTool(t, "sievec")
	if _, err := os.Stat("/usr/lib/dovecot/modules/lib90_sieve_plugin.so"); err != nil {
		t.Skip("dovecot-sieve not installed")
	}
	dir := t.TempDir()
	const lmtpAddr, org, inet = "127.0.0.125:9541", "127.0.0.125:9542", "127.0.0.125:9543"
	ddir := filepath.Join(dir, "dovecot")
	os.MkdirAll(ddir, 0o755)
	script, err := os.ReadFile("../../deploy/dovecot/umbra-duplicate.sieve")
	if err != nil {
		t.Fatal(err)
	}
	conf, err := os.ReadFile("../../deploy/dovecot/90-umbra-duplicate.conf")
	if err != nil {
		t.Fatal(err)
	}
	sieve := filepath.Join(ddir, "umbra-duplicate.sieve")
	os.WriteFile(sieve, script, 0o644)
	if out, err := exec.Command("sievec", sieve).CombinedOutput(); err != nil {
		t.Fatalf("sievec: %v\n%s", err, out)
	}
	extra := strings.ReplaceAll(string(conf), "/etc/dovecot/sieve/umbra-duplicate.sieve", sieve)
	mail := startDovecotWith(t, ddir, lmtpAddr, extra, "bob@example.test", "s@example.test")

	cfg := dupHub(t, dir, "hub1", org, inet, fmt.Sprintf("{lmtp: %q, database: MDB1}", lmtpAddr))
	h := startUmbra(t, cfg, org)
	h.dumpLogIfFailed()
	// Dovecot refuses nobody: a failure DSN to the local sender s.
	if r := rawSend(t, org, "s@example.test", []string{"bob@example.test", "nobody@example.test"},
		"Message-ID: <m1@example.test>\r\nSubject: the message\r\n\r\nhello"); !strings.HasPrefix(r, "250") {
		t.Fatalf("send: %q", r)
	}
	waitCond(t, "the message and the DSN in their mailboxes", 30*time.Second, func() bool {
		return dovecotCount(mail, "bob@example.test") == 1 && dovecotCount(mail, "s@example.test") == 1
	})
	// bob's mailbox is lost; the database's dumpster brings back every
	// copy since, the DSN too.
	os.RemoveAll(filepath.Join(mail, "example.test", "bob"))
	since := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	out, code := cli(t, cfg, "dumpster", "resubmit", "--database", "MDB1", "--since", since, "--request-id", "lost-bob")
	if code != 0 || !strings.Contains(out, "resubmitted 2 messages") {
		t.Fatalf("resubmit (exit %d): %s", code, out)
	}
	waitCond(t, "bob's message redelivered", 30*time.Second, func() bool { return dovecotCount(mail, "bob@example.test") == 1 })
	waitCond(t, "the DSN's copy handed to the mailbox server", 30*time.Second, func() bool {
		out, _ := cli(t, cfg, "track", "--json", "--recipient", "s@example.test")
		return strings.Count(out, `"event": "deliver"`) == 2
	})
	time.Sleep(2 * time.Second) // a copy the rule kept would land now
	if n := dovecotCount(mail, "s@example.test"); n != 1 {
		log, _ := os.ReadFile(filepath.Join(ddir, "dovecot.log"))
		files, _ := filepath.Glob(filepath.Join(mail, "example.test", "s", "Maildir", "*", "*"))
		for _, f := range files {
			b, _ := os.ReadFile(f)
			t.Logf("%s:\n%.600s", f, b)
		}
		t.Fatalf("the sender's mailbox holds %d DSNs, want 1: the resubmitted DSN was not dropped\n%s", n, log)
	}
}
