package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"
)

// markInternal lets the test connector of relayConfig count as one whose
// mail originates inside the organisation (dkim_sign: application
// servers relaying through it), so that what it relays is DKIM-signed.
func markInternal(t testing.TB, cfg string) {
	t.Helper()
	b, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s := strings.Replace(string(b), "    max_acknowledgement_delay: 0s\n", "    max_acknowledgement_delay: 0s\n    dkim_sign: true\n", 1)
	if s == string(b) {
		t.Fatal("no connector to mark")
	}
	os.WriteFile(cfg, []byte(s), 0o600)
}

// plainSend sends one message without TLS.
func plainSend(addr, from string, to []string, msg string) error {
	c, err := gosmtp.Dial(addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.SendMail(from, to, strings.NewReader(msg)); err != nil {
		return err
	}
	return c.Quit()
}

// waitBody waits for the copy with subject at the sink.
func waitBody(t *testing.T, d *daemon, sink *recorder, subject string) string {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		sink.mu.Lock()
		got := sink.bodies[subject]
		sink.mu.Unlock()
		if got != "" {
			return got
		}
	}
	d.dumpLog()
	t.Fatalf("%q did not arrive", subject)
	return ""
}

// TestForgedAuthResultsNotSealed: an outside sender (anonymous relay)
// writes Authentication-Results claiming umbra's authserv-id, in every
// spelling RFC 8601 allows. The front door removes it on a connector
// without message authentication, so nothing is ARC-sealed; the message
// did not originate inside the organisation, so nothing is DKIM-signed;
// a local mailbox stores it without the forged header; other servers'
// results stay.
func TestForgedAuthResultsNotSealed(t *testing.T) {
	dir := t.TempDir()
	keygen(t, dir, "example.com", "d1")
	keygen(t, dir, "example.com", "arc1", "--algorithm", "rsa")
	sinkAddr := freeAddr(t, "127.0.0.1")
	sink := startRecorder(t, sinkAddr)
	listen := freeAddr(t, "127.0.0.1")
	cfg := relayConfig(t, dir, listen, sinkAddr)
	f, _ := os.OpenFile(cfg, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString("dkim:\n  keys:\n    - {domain: example.com, selector: d1, key_file: example.com.d1.key}\n" +
		"  arc: {domain: example.com, selector: arc1, key_file: example.com.arc1.key, authserv_id: mx.example.com}\n")
	f.Close()
	d := startUmbra(t, cfg, listen)
	forged := map[string]string{
		"plain":   "Authentication-Results: mx.example.com; dkim=pass; spf=pass; dmarc=pass\r\n",
		"upper":   "Authentication-Results: MX.EXAMPLE.COM; dkim=pass; spf=pass; dmarc=pass\r\n",
		"comment": "Authentication-Results: (c) mx.example.com; dkim=pass; spf=pass; dmarc=pass\r\n",
		"version": "Authentication-Results: mx.example.com 1; dkim=pass; spf=pass; dmarc=pass\r\n",
		"folded":  "Authentication-Results:\r\n mx.example.com;\r\n\tdkim=pass; spf=pass; dmarc=pass\r\n",
		"lower":   "authentication-results: mx.example.com; dkim=pass; spf=pass; dmarc=pass\r\n",
		"arc":     "Authentication-Results: mx.example.com; arc=pass; dkim=pass; dmarc=pass\r\n",
		"quoted":  "Authentication-Results: \"mx.example.com\"; dmarc=pass\r\n",
	}
	other := "Authentication-Results: other.example; spf=pass\r\n"
	send := func(subject, hdr, rcpt string) {
		t.Helper()
		msg := hdr + other + "X-Umbra-Origin: internal\r\nFrom: ceo@example.com\r\nTo: " + rcpt + "\r\nSubject: " + subject + "\r\n\r\nbody\r\n"
		if err := plainSend(listen, "z@evil.org", []string{rcpt}, msg); err != nil {
			t.Fatalf("%s: %v", subject, err)
		}
	}
	for name, hdr := range forged {
		send("forged "+name, hdr, "b@remote.example")
	}
	send("forged local", forged["plain"], "u@example.test")
	for name := range forged {
		got := waitBody(t, d, sink, "forged "+name)
		low := strings.ToLower(got)
		if strings.Contains(low, "mx.example.com") || strings.Contains(low, "arc-seal:") || strings.Contains(low, "dkim-signature:") {
			t.Errorf("%s: forged result sealed or signed:\n%s", name, got)
		}
		if !strings.Contains(got, other) || strings.Contains(got, "X-Umbra-") {
			t.Errorf("%s: another server's result lost, or an umbra header left:\n%s", name, got)
		}
	}
	var stored string
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline) && stored == ""; time.Sleep(20 * time.Millisecond) {
		filepath.WalkDir(filepath.Join(dir, "data"), func(p string, e os.DirEntry, err error) error {
			if err == nil && !e.IsDir() && strings.Contains(p, "maildir") && strings.Contains(p, "/new/") {
				if b, _ := os.ReadFile(p); strings.Contains(string(b), "Subject: forged local") {
					stored = string(b)
				}
			}
			return nil
		})
	}
	if stored == "" {
		d.dumpLog()
		t.Fatal("the local copy was not stored")
	}
	if strings.Contains(strings.ToLower(stored), "mx.example.com;") || !strings.Contains(stored, other) {
		t.Fatalf("the mailbox stored the forged result:\n%s", stored)
	}
}

// TestDKIMSignsOnlyInternalOrigin: an anonymous relay's mail is not
// DKIM-signed, however its From: reads, nor is a transport server's that
// does not say the message originated inside the organisation; a
// connector marked dkim_sign, and a transport server's message that says
// so (X-Umbra-Origin, believed only from it), are signed.
func TestDKIMSignsOnlyInternalOrigin(t *testing.T) {
	dir := t.TempDir()
	keygen(t, dir, "example.com", "d1")
	sinkAddr := freeAddr(t, "127.0.0.1")
	sink := startRecorder(t, sinkAddr)
	listen := freeAddr(t, "127.0.0.1")
	app := freeAddr(t, "127.0.0.1")
	hub := freeAddr(t, "127.0.0.1")
	cfg := relayConfig(t, dir, listen, sinkAddr)
	b, _ := os.ReadFile(cfg)
	conns := "  - name: apps\n    bindings: [\"" + app + "\"]\n    remote_ranges: [\"127.0.0.0/8\"]\n    permissions:\n      anonymous: [submit, relay]\n    max_acknowledgement_delay: 0s\n    dkim_sign: true\n" +
		"  - name: servers\n    bindings: [\"" + hub + "\"]\n    remote_ranges: [\"127.0.0.0/8\"]\n    permissions:\n      anonymous: [submit, relay]\n    externally_secured: true\n    max_acknowledgement_delay: 0s\nsend_connectors:\n"
	s := strings.Replace(string(b), "send_connectors:\n", conns, 1)
	s += "dkim:\n  keys:\n    - {domain: example.com, selector: d1, key_file: example.com.d1.key}\n"
	os.WriteFile(cfg, []byte(s), 0o600)
	d := startUmbra(t, cfg, listen)
	cases := []struct {
		subject, addr, extra string
		signed               bool
	}{
		{"anonymous", listen, "", false},
		{"anonymous claiming", listen, "X-Umbra-Origin: internal\r\n", false},
		{"app server", app, "", true},
		{"transport server", hub, "", false},
		{"transport server internal", hub, "X-Umbra-Origin: internal\r\n", true},
	}
	for _, c := range cases {
		msg := c.extra + "From: ceo@example.com\r\nTo: b@remote.example\r\nSubject: " + c.subject + "\r\n\r\nbody\r\n"
		if err := plainSend(c.addr, "ceo@example.com", []string{"b@remote.example"}, msg); err != nil {
			t.Fatalf("%s: %v", c.subject, err)
		}
	}
	for _, c := range cases {
		got := waitBody(t, d, sink, c.subject)
		if signed := strings.Contains(strings.ToLower(got), "dkim-signature:"); signed != c.signed || strings.Contains(got, "X-Umbra-") {
			t.Errorf("%s: signed %v, want %v:\n%s", c.subject, signed, c.signed, got)
		}
	}
}
