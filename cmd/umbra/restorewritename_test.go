package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// OPS: a db restore that cannot write its copy of the backup (a full
// disk; here the file size limit) names the file it was writing — the
// copy beside the database, queue.db.restore — not queue.db, which
// stays as it was (rt41 F6).
func TestDBRestoreFailedWriteNamesItsCopy(t *testing.T) {
	dir := t.TempDir()
	listen := freeAddr(t, "127.0.0.169")
	cfg := relayConfig(t, dir, listen, reserveAddr(t, "127.0.0.169"))
	d := startUmbra(t, cfg, listen)
	if r := rawSend(t, listen, "s@example.org", []string{"r@remote.example"}, "Subject: before\r\n\r\nbody"); !strings.HasPrefix(r, "250") {
		t.Fatalf("send: %q", r)
	}
	backup := filepath.Join(dir, "queue.backup")
	if out, code := cli(t, cfg, "db", "backup", backup); code != 0 {
		t.Fatalf("db backup: exit %d %q", code, out)
	}
	d.kill()
	db := filepath.Join(dir, "data", "queue.db")
	before, err := os.ReadFile(db)
	if err != nil {
		t.Fatal(err)
	}
	// 8 KiB at most per file written: the copy of the backup fails.
	cmd := exec.Command("sh", "-c", `ulimit -f 8 && exec "$0" --config "$1" db restore "$2"`, umbraBin, cfg, backup)
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("db restore under a file size limit succeeded:\n%s", out)
	}
	if !strings.Contains(string(out), "writing the backup's copy "+db+".restore") || strings.Contains(string(out), "writing "+db+":") ||
		!strings.Contains(string(out), "The database is unchanged") {
		t.Fatalf("db restore's failed write names another file than the one it wrote:\n%s", out)
	}
	if after, _ := os.ReadFile(db); string(after) != string(before) {
		t.Fatal("queue.db changed")
	}
}
