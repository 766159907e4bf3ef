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

// The receive-side policy through the daemon with its default settings:
// <postmaster> reaches the default postmaster mailbox; 60 arriving
// Received: headers (61 with umbra's) are refused with 554 5.4.6; at final
// delivery Return-Path and Delivered-To are umbra's own, and a
// Delivered-To naming a recipient is a loop refused whole at DATA (no DSN
// to the possibly forged sender; the DSN content cap is tested in
// internal/queue).
func TestReceiveSidePolicyEndToEnd(t *testing.T) {
	dir := t.TempDir()
	listen, sinkAddr := freeAddr(t, "127.0.0.1"), freeAddr(t, "127.0.0.1")
	rec := startRecorder(t, sinkAddr)
	startUmbra(t, relayConfig(t, dir, listen, sinkAddr), listen)
	maildir := filepath.Join(dir, "data", "maildir", "example.test")
	files := func(user string) []string {
		f, _ := filepath.Glob(filepath.Join(maildir, user, "new", "*"))
		return f
	}

	if r := rawSend(t, listen, "a@example.org", []string{"PostMaster"}, "Subject: hello postmaster\r\n\r\nhi"); !strings.HasPrefix(r, "250") {
		t.Fatalf("to <PostMaster>: %s", r)
	}
	waitCond(t, "postmaster delivery", 10*time.Second, func() bool { return len(files("postmaster")) == 1 })

	hops := strings.Repeat("Received: from a by b; Mon, 30 Nov 2026 12:00:00 +0000\r\n", 60)
	if r := rawSend(t, listen, "a@example.org", []string{"bob@example.test"}, hops+"Subject: loop\r\n\r\nhi"); !strings.HasPrefix(r, "554 5.4.6") {
		t.Fatalf("60 Received: headers: %s", r)
	}

	c := rawDial(t, listen)
	c.cmd("EHLO client.example", "250")
	c.cmd("MAIL FROM:<forged@target.example> RET=FULL", "250")
	c.cmd("RCPT TO:<alice@example.test>", "250")
	c.cmd("RCPT TO:<bob@example.test>", "250")
	c.cmd("DATA", "354")
	// A Delivered-To naming a recipient is a loop decided at DATA: the
	// whole message is refused, so no DSN reflects it to the (forged)
	// sender.
	c.cmd("Return-Path: <x@evil.example>\r\nDelivered-To: alice@example.test\r\nSubject: reflect\r\n\r\n"+
		strings.Repeat("attacker chosen text\r\n", 14000)+".", "554 5.4.6")
	c.cmd("MAIL FROM:<forged@target.example> RET=FULL", "250")
	c.cmd("RCPT TO:<bob@example.test>", "250")
	c.cmd("DATA", "354")
	c.cmd("Return-Path: <x@evil.example>\r\nDelivered-To: alice@example.test\r\nSubject: forwarded\r\n\r\nhi\r\n.", "250")
	c.cmd("QUIT", "221")

	waitCond(t, "bob's copy", 20*time.Second, func() bool { return len(files("bob")) == 1 })
	if f := files("alice"); len(f) != 0 {
		t.Errorf("the looping copy was delivered: %v", f)
	}
	b, _ := os.ReadFile(files("bob")[0])
	if !strings.HasPrefix(string(b), "Return-Path: <forged@target.example>\r\nDelivered-To: bob@example.test\r\n") ||
		strings.Contains(string(b), "evil.example") || strings.Contains(string(b), "Delivered-To: alice") ||
		!strings.Contains(string(b), "Subject: forwarded") {
		t.Errorf("bob's copy starts:\n%.400s", b)
	}
	if n := rec.counts()["Undelivered Mail Returned to Sender"]; n != 0 {
		t.Errorf("%d DSNs for a message refused at DATA", n)
	}
}

// Over LMTP to Dovecot: the mailbox gets one Return-Path and one
// Delivered-To, both from umbra's envelope (Dovecot writes them), none of
// the forged ones; a message whose Delivered-To names a recipient is a
// loop, refused at DATA.
func TestLMTPTraceFieldsWithDovecot(t *testing.T) {
	dir := t.TempDir()
	lmtpAddr, listen := freeAddr(t, "127.0.0.1"), freeAddr(t, "127.0.0.1")
	mail := startDovecot(t, filepath.Join(dir, "dovecot"), lmtpAddr, "bob@example.test", "carol@example.test")
	cfg := lmtpHub(t, dir, listen, fmt.Sprintf("lmtp: %q", lmtpAddr))
	startUmbra(t, cfg, listen)
	msg := "Return-Path: <evil@forged.example>\r\nDelivered-To: carol@example.test\r\nSubject: trace\r\n\r\nhello"
	// Naming carol, the message loops for her: refused whole at DATA.
	if r := rawSend(t, listen, "s@example.test", []string{"bob@example.test", "carol@example.test"}, msg); !strings.HasPrefix(r, "554 5.4.6") {
		t.Fatal(r)
	}
	if r := rawSend(t, listen, "s@example.test", []string{"bob@example.test"}, msg); !strings.HasPrefix(r, "250") {
		t.Fatal(r)
	}
	waitCond(t, "delivery to bob", 20*time.Second, func() bool { return dovecotCount(mail, "bob@example.test") == 1 })
	if n := dovecotCount(mail, "carol@example.test"); n != 0 {
		t.Errorf("carol got %d copies of a looping message", n)
	}
	files, _ := filepath.Glob(filepath.Join(mail, "example.test", "bob", "Maildir", "new", "*"))
	if len(files) != 1 {
		t.Fatalf("bob's files: %v", files)
	}
	b, _ := os.ReadFile(files[0])
	text := strings.ReplaceAll(string(b), "\r\n", "\n") // Dovecot stores LF
	head, _, _ := strings.Cut(text, "\n\n")
	if strings.Count(head, "Return-Path:") != 1 || !strings.Contains(head, "Return-Path: <s@example.test>") ||
		strings.Count(head, "Delivered-To:") != 1 || !strings.Contains(head, "Delivered-To: bob@example.test") ||
		strings.Contains(head, "forged") {
		t.Errorf("bob's copy:\n%s", head)
	}
}

// The daemon applies auth_throttle across connections and counts the
// failures in its metrics: after lockout_after failures from one address
// even the right password gets 454 4.7.0 there.
func TestAuthLockoutThroughDaemon(t *testing.T) {
	dir := t.TempDir()
	listen, metricsAddr := freeAddr(t, "127.0.0.1"), freeAddr(t, "127.0.0.1")
	hash, _ := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	creds := filepath.Join(dir, "credentials")
	os.WriteFile(creds, []byte("alice:"+string(hash)+"\n"), 0o600)
	cfg := filepath.Join(dir, "umbra.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`server: {name: hub1.example.test, data_dir: %s, metrics_listen: %q}
accepted_domains: [{domain: example.test, recipient_validation: off}]
auth_throttle: {delay: 10ms, max_delay: 20ms, lockout_after: 3, lockout: 1h}
receive_connectors:
  - name: in
    bindings: [%q]
    remote_ranges: ["127.0.0.0/8"]
    auth: {mechanisms: [PLAIN], credentials_file: %q, allow_insecure: true}
    permissions: {authenticated: [submit]}
mailbox: {maildir: maildir}
`, filepath.Join(dir, "data"), metricsAddr, listen, creds)), 0o600)
	startUmbra(t, cfg, listen)
	for i := 0; i < 2; i++ { // two connections: the throttle spans them
		c := rawDial(t, listen)
		c.cmd("EHLO client.example", "250")
		c.cmd("AUTH PLAIN "+plain("alice", "guess"), "535 5.7.8")
		if i == 1 {
			c.cmd("AUTH PLAIN "+plain("alice", "guess2"), "454 4.7.0") // the third failure locks the address out
		}
	}
	c := rawDial(t, listen)
	c.cmd("EHLO client.example", "250")
	c.cmd("AUTH PLAIN "+plain("alice", "pw"), "454 4.7.0")
	body, err := scrapeMetrics(metricsAddr)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`umbra_smtp_auth_failures_total{connector="in",reason="bad_credentials"} 3`,
		`umbra_smtp_auth_failures_total{connector="in",reason="locked_out"} 1`} {
		if !strings.Contains(body, want+"\n") {
			t.Errorf("metrics lack %s", want)
		}
	}
}
