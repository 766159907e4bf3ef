package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A server with no shadow servers (rt58 F2): the messages it accepted
// after the backup are in the database a restore replaces and nowhere
// else. db restore refuses to leave them behind, listing them; with
// --discard-newer it restores and says which it left in the replaced
// file.
func TestDBRestoreListsWhatNoShadowKeeps(t *testing.T) {
	dir := t.TempDir()
	listen, sinkAddr := freeAddr(t, "127.0.0.1"), freeAddr(t, "127.0.0.1")
	cfg := relayConfig(t, dir, listen, sinkAddr) // the sink is down: mail stays queued
	d := startUmbra(t, cfg, listen)
	send := func(tag string, n int) {
		for i := 0; i < n; i++ {
			msg := fmt.Sprintf("Message-ID: <%s-%d@example.org>\r\nSubject: %s %d\r\n\r\nbody", tag, i, tag, i)
			if r := rawSend(t, listen, "s@example.org", []string{"r@remote.example"}, msg); !strings.HasPrefix(r, "250") {
				t.Fatalf("%s %d: %q", tag, i, r)
			}
		}
	}
	send("before", 2)
	backup := filepath.Join(dir, "queue.backup")
	if out, code := cli(t, cfg, "db", "backup", backup); code != 0 {
		t.Fatalf("db backup: exit %d %q", code, out)
	}
	send("after", 2)
	d.kill()
	db := filepath.Join(dir, "data", "queue.db")
	before, _ := os.ReadFile(db)
	code, errOut := cliErr(t, cfg, "db", "restore", backup)
	if code == 0 || !strings.Contains(errOut, "2 messages") || !strings.Contains(errOut, "<after-0@example.org>") ||
		!strings.Contains(errOut, "<after-1@example.org>") || strings.Contains(errOut, "<before-") || !strings.Contains(errOut, "--discard-newer") {
		t.Fatalf("db restore that would leave 2 unshadowed messages behind: exit %d %q", code, errOut)
	}
	if now, _ := os.ReadFile(db); string(now) != string(before) {
		t.Fatal("the refused restore changed the database")
	}
	out, code := cli(t, cfg, "db", "restore", "--discard-newer", backup)
	if code != 0 || !strings.Contains(out, "<after-0@example.org>") || !strings.Contains(out, "not delivered") {
		t.Fatalf("db restore --discard-newer: exit %d %q", code, out)
	}
}
