package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	gosmtp "github.com/emersion/go-smtp"
)

// The operator's path through a spool file lost under a queued message
// (the red team's repro: rm of one file in data/spool): db backup is
// refused naming the message's id; --skip-unreadable writes the backup
// and lists the message as not in it. Restored, the large bodies are in
// spool files again (not in queue.db), the left-out one is reported
// missing, and the daemon serves the queue.
func TestDBBackupUnreadableSpoolFileAndRestoreSpools(t *testing.T) {
	dir := t.TempDir()
	listen, sink := freeAddr(t, "127.0.0.1"), freeAddr(t, "127.0.0.1")
	cfg := relayConfig(t, dir, listen, sink) // the smart host is down: the messages wait
	d := startUmbra(t, cfg, listen)
	send := func(subject string, n int) {
		t.Helper()
		c, err := gosmtp.Dial(listen)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		body := "From: a@example.org\r\nSubject: " + subject + "\r\n\r\n" +
			strings.Repeat("0123456789 abcdefghijklmnopqrstuvwxyz 0123456789\r\n", n/51)
		if err := c.SendMail("a@example.org", []string{"b@remote.example"}, strings.NewReader(body)); err != nil {
			t.Fatal(err)
		}
	}
	send("LOST", 600<<10) // past spool_threshold (256KiB)
	send("KEPT", 900<<10)
	send("SMALL", 10<<10)
	out, code := cli(t, cfg, "message", "list", "--json")
	var list []struct {
		ID   string `json:"id"`
		Size int64  `json:"size"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &list) != nil || len(list) != 3 {
		t.Fatalf("message list: exit %d %s", code, out)
	}
	var lost string
	for _, m := range list {
		if m.Size > 500<<10 && m.Size < 800<<10 {
			lost = m.ID
		}
	}
	spool := filepath.Join(dir, "data", "spool")
	ents, _ := os.ReadDir(spool)
	if len(ents) != 2 {
		t.Fatalf("spool files: %d", len(ents))
	}
	for _, e := range ents {
		if fi, _ := e.Info(); fi.Size() < 800<<10 {
			os.Remove(filepath.Join(spool, e.Name()))
		}
	}
	backup := filepath.Join(dir, "b.db")
	code, errOut := cliErr(t, cfg, "db", "backup", backup)
	if code != exitFailure || !strings.Contains(errOut, "message "+lost) || !strings.Contains(errOut, "--skip-unreadable") {
		t.Fatalf("db backup with a lost spool file: exit %d %q (want the message %s named)", code, errOut, lost)
	}
	if _, err := os.Stat(backup); err == nil {
		t.Fatal("a refused backup left a file")
	}
	out, code = cli(t, cfg, "db", "backup", "--skip-unreadable", backup)
	if code != 0 || !strings.Contains(out, "NOT in this backup") || !strings.Contains(out, "message "+lost) {
		t.Fatalf("db backup --skip-unreadable: exit %d %q", code, out)
	}
	d.kill()
	if out, code := cli(t, cfg, "db", "restore", backup); code != 0 {
		t.Fatalf("db restore: exit %d %q", code, out)
	}
	ents, _ = os.ReadDir(spool)
	if len(ents) != 1 {
		t.Fatalf("spool files after restore: %d, want the one large body the backup carried", len(ents))
	}
	if fi, _ := os.Stat(filepath.Join(dir, "data", "queue.db")); fi.Size() > 800<<10 {
		t.Errorf("the restored queue.db is %d bytes: it holds the large body", fi.Size())
	}
	d = startUmbra(t, cfg, listen)
	out, code = cli(t, cfg, "message", "list", "--json")
	if code != 0 || strings.Count(out, `"id"`) != 3 {
		t.Fatalf("restored queue: exit %d %s", code, out)
	}
	logb, _ := os.ReadFile(d.log)
	if !strings.Contains(string(logb), "spool files the transport database names are missing") {
		t.Errorf("the left-out body is not reported at start")
	}
}
