package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	gosmtp "github.com/emersion/go-smtp"
)

// db verify reports how many message records and bodies of a backup
// carry no checksum of their own (written by an older release), in text
// and in --json; a backup this release wrote has none, and its text says
// nothing of them (the line is printed only when some are unchecked).
func TestDBVerifyCountsUnchecked(t *testing.T) {
	dir := t.TempDir()
	listen, sink := freeAddr(t, "127.0.0.1"), freeAddr(t, "127.0.0.1")
	cfg := relayConfig(t, dir, listen, sink) // the smart host is down: the message waits
	d := startUmbra(t, cfg, listen)
	c, err := gosmtp.Dial(listen)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.SendMail("a@example.org", []string{"b@remote.example"}, strings.NewReader("From: a@example.org\r\nSubject: x\r\n\r\nhi\r\n")); err != nil {
		t.Fatal(err)
	}
	c.Close()
	backup := filepath.Join(dir, "b.db")
	if out, code := cli(t, cfg, "db", "backup", backup); code != 0 {
		t.Fatalf("db backup: exit %d %q", code, out)
	}
	d.kill()
	out, code := cli(t, cfg, "db", "verify", backup)
	if code != 0 || !strings.Contains(out, "every checksum matches") ||
		strings.Contains(out, "without a checksum of their own") {
		t.Fatalf("db verify: exit %d %q", code, out)
	}
	out, code = cli(t, cfg, "db", "verify", "--json", backup)
	var ver map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &ver) != nil || ver["sound"] != true ||
		ver["unchecked_records"] != float64(0) || ver["unchecked_bodies"] != float64(0) {
		t.Fatalf("db verify --json: exit %d %q", code, out)
	}
}
