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

// dupHub writes the configuration of a hub that delivers into the
// mailbox database MDB1 (LMTP to Dovecot, or a Maildir store): an "org"
// connector on which peers are transport servers (externally secured),
// and an "internet" one on which they are not.
func dupHub(t *testing.T, dir, name, org, internet, mailbox string) string {
	t.Helper()
	d := filepath.Join(dir, name)
	os.MkdirAll(d, 0o700)
	cfg := filepath.Join(d, "umbra.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`server: {name: %s, data_dir: %s, metrics_listen: ""}
transport: {retry_schedule: [1s], retry_jitter: 0.1}
accepted_domains: [{domain: example.test, recipient_validation: off}]
receive_connectors:
  - name: org
    bindings: [%q]
    remote_ranges: ["127.0.0.0/8"]
    externally_secured: true
    permissions: {anonymous: [submit], servers: [submit, relay]}
  - name: internet
    bindings: [%q]
    remote_ranges: ["127.0.0.0/8"]
    permissions: {anonymous: [submit]}
mailbox: %s
`, name, filepath.Join(d, "data"), org, internet, mailbox)), 0o600)
	return cfg
}

// The copies of the duplicate test: the same transport message (org id
// X) handed to each of two hubs by a server of the organisation — what a
// shadow takeover or a primary back with its old queue does — plus two
// messages that must not be taken for it: another message with the same
// Message-ID, and one from outside that forges X (the header firewall
// gives it its own id).
func sendDupCopies(t *testing.T, org1, org2, internet1 string) {
	t.Helper()
	const x = "5e1f0c0ffee0ddba11deadbeef012345"
	msg := func(org, subj string) string {
		return "X-Umbra-Org-Id: " + org + "\r\nMessage-ID: <same@example.org>\r\nSubject: " + subj + "\r\n\r\nhello"
	}
	for _, c := range []struct{ addr, msg string }{
		{org1, msg(x, "the message")},
		{org2, msg(x, "the message")},                              // the second copy, through the other hub
		{org2, msg("0123456789abcdef0123456789abcdef", "another")}, // same Message-ID, another message
		{internet1, msg(x, "forged")},                              // from outside, forging X
	} {
		if r := rawSend(t, c.addr, "s@example.org", []string{"bob@example.test"}, c.msg); !strings.HasPrefix(r, "250") {
			t.Fatalf("%s: %q", c.addr, r)
		}
	}
}

// Issue 19 defect 5 with Dovecot: two hubs deliver into one mailbox
// server over LMTP; the duplicate record of each hub knows only its own
// deliveries. The organisation message id in every LMTP-delivered
// message and the shipped Sieve rule (deploy/dovecot, RFC 7352
// duplicate) make the mailbox keep one copy of the message, whichever
// hub delivers it, while different messages (same Message-ID, or a
// forged id from outside) are all delivered.
func TestDovecotSieveDropsSecondCopyFromAnotherHub(t *testing.T) {
	t.Parallel()
	needTool(t, "sievec")
	if _, err := os.Stat("/usr/lib/dovecot/modules/lib90_sieve_plugin.so"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("dovecot-sieve is missing; .ci/run must install it")
		}
		t.Skip("dovecot-sieve not installed")
	}
	dir := t.TempDir()
	lmtpAddr := freeAddr(t, "127.0.0.1")
	ddir := filepath.Join(dir, "dovecot")
	os.MkdirAll(ddir, 0o755)
	// The shipped configuration, with the script where this test keeps it.
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
	mail := startDovecotWith(t, ddir, lmtpAddr, extra, "bob@example.test")

	org1, org2, inet1, inet2 := freeAddr(t, "127.0.0.1"), freeAddr(t, "127.0.0.2"), freeAddr(t, "127.0.0.1"), freeAddr(t, "127.0.0.2")
	mbox := fmt.Sprintf("{lmtp: %q, database: MDB1}", lmtpAddr)
	h1 := startUmbra(t, dupHub(t, dir, "hub1", org1, inet1, mbox), org1)
	h2 := startUmbra(t, dupHub(t, dir, "hub2", org2, inet2, mbox), org2)
	sendDupCopies(t, org1, org2, inet1)
	waitCond(t, "delivery to Dovecot", 30*time.Second, func() bool { return dovecotCount(mail, "bob@example.test") >= 3 })
	time.Sleep(2 * time.Second) // a wrongly kept copy would land now
	if n := dovecotCount(mail, "bob@example.test"); n != 3 {
		h1.dumpLog()
		h2.dumpLog()
		log, _ := os.ReadFile(filepath.Join(ddir, "dovecot.log"))
		t.Fatalf("bob has %d messages, want 3 (the message once, the other, the forged one)\n%s", n, log)
	}
	subjects := maildirSubjects(t, filepath.Join(mail, "example.test", "bob", "Maildir"))
	if subjects["the message"] != 1 || subjects["another"] != 1 || subjects["forged"] != 1 {
		t.Fatalf("subjects in the mailbox: %v", subjects)
	}
	// One hub that lost its duplicate record (kill -9, database gone)
	// delivers the copy once more: the mailbox still keeps one.
	h1.kill()
	os.RemoveAll(filepath.Join(dir, "hub1", "data"))
	h1 = startUmbra(t, filepath.Join(dir, "hub1", "umbra.yaml"), org1)
	const x = "5e1f0c0ffee0ddba11deadbeef012345"
	if r := rawSend(t, org1, "s@example.org", []string{"bob@example.test"},
		"X-Umbra-Org-Id: "+x+"\r\nMessage-ID: <same@example.org>\r\nSubject: the message\r\n\r\nhello"); !strings.HasPrefix(r, "250") {
		t.Fatalf("copy after the wipe: %q", r)
	}
	waitCond(t, "hub1 to deliver the copy", 30*time.Second, func() bool {
		out, _ := cli(t, filepath.Join(dir, "hub1", "umbra.yaml"), "track", "--json", "--message-id", x)
		return strings.Contains(out, `"event": "deliver"`)
	})
	time.Sleep(time.Second)
	if s := maildirSubjects(t, filepath.Join(mail, "example.test", "bob", "Maildir")); s["the message"] != 1 {
		h1.dumpLog()
		t.Fatalf("after a hub lost its record: %v", s)
	}
}

// Issue 19 defect 5 with a shared Maildir store: two hubs deliver the
// same transport message into one store; the file name comes from
// (database, org id, recipient) and holds no host, so the second write
// finds the first.
func TestSharedMaildirTwoHubsOneCopy(t *testing.T) {
	dir := t.TempDir()
	store := filepath.Join(dir, "store")
	org1, org2, inet1, inet2 := freeAddr(t, "127.0.0.1"), freeAddr(t, "127.0.0.2"), freeAddr(t, "127.0.0.1"), freeAddr(t, "127.0.0.2")
	mbox := fmt.Sprintf("{maildir: %q, database: MDB1}", store)
	h1 := startUmbra(t, dupHub(t, dir, "hub1", org1, inet1, mbox), org1)
	h2 := startUmbra(t, dupHub(t, dir, "hub2", org2, inet2, mbox), org2)
	sendDupCopies(t, org1, org2, inet1)
	box := filepath.Join(store, "example.test", "bob")
	count := func() int {
		n, _ := filepath.Glob(filepath.Join(box, "new", "*"))
		c, _ := filepath.Glob(filepath.Join(box, "cur", "*"))
		return len(n) + len(c)
	}
	waitCond(t, "delivery to the store", 30*time.Second, func() bool { return count() >= 3 })
	time.Sleep(2 * time.Second)
	if n := count(); n != 3 {
		h1.dumpLog()
		h2.dumpLog()
		t.Fatalf("%d files in the shared store, want 3", n)
	}
	if s := maildirSubjects(t, box); s["the message"] != 1 || s["another"] != 1 || s["forged"] != 1 {
		t.Fatalf("subjects in the store: %v", s)
	}
}

// maildirSubjects counts the messages of a Maildir by Subject.
func maildirSubjects(t *testing.T, box string) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, sub := range []string{"new", "cur"} {
		files, _ := filepath.Glob(filepath.Join(box, sub, "*"))
		for _, f := range files {
			b, _ := os.ReadFile(f)
			for _, line := range strings.Split(string(b), "\n") { // Dovecot stores LF line ends
				if s, ok := strings.CutPrefix(strings.TrimSuffix(line, "\r"), "Subject: "); ok {
					out[s]++
					break
				}
			}
		}
	}
	return out
}
