package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The receive-side policy through the daemon with its default settings:
// <postmaster> reaches the default postmaster mailbox; 60 arriving
// Received: headers (61 with umbra's) are refused with 554 5.4.6; at final
// delivery Return-Path and Delivered-To are umbra's own, a Delivered-To
// naming the recipient is a loop, and the DSN for it returns headers
// only, however much the (anonymous, RET=FULL) sender sent.
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
	c.cmd("Return-Path: <x@evil.example>\r\nDelivered-To: alice@example.test\r\nSubject: reflect\r\n\r\n"+
		strings.Repeat("attacker chosen text\r\n", 14000)+".", "250")
	c.cmd("QUIT", "221")

	waitCond(t, "bob's copy and the DSN", 20*time.Second, func() bool {
		return len(files("bob")) == 1 && rec.counts()["Undelivered Mail Returned to Sender"] == 1
	})
	if f := files("alice"); len(f) != 0 {
		t.Errorf("the looping copy was delivered: %v", f)
	}
	b, _ := os.ReadFile(files("bob")[0])
	if !strings.HasPrefix(string(b), "Return-Path: <forged@target.example>\r\nDelivered-To: bob@example.test\r\n") ||
		strings.Contains(string(b), "evil.example") || strings.Contains(string(b), "Delivered-To: alice") {
		t.Errorf("bob's copy starts:\n%.400s", b)
	}
	rec.mu.Lock()
	dsn := rec.bodies["Undelivered Mail Returned to Sender"]
	rec.mu.Unlock()
	if len(dsn) > 60<<10 || strings.Contains(dsn, "attacker chosen text") || !strings.Contains(dsn, "5.4.6") ||
		!strings.Contains(dsn, "text/rfc822-headers") {
		t.Errorf("DSN of %d bytes:\n%.1500s", len(dsn), dsn)
	}
}
