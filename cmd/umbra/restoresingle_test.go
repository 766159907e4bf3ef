package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// SR-7, OPS: on a server with no shadow servers (no topology) the
// summary of db restore never says that a shadow server resubmits what
// the backup lacks: nothing resubmits it there (rt17a F5). It says which
// case applied: the replaced database held nothing beyond the backup
// still to deliver, or (it could not be read) that mail accepted after
// the backup is not delivered.
func TestDBRestoreSummaryOnSingleServer(t *testing.T) {
	dir := t.TempDir()
	listen, sinkAddr := freeAddr(t, "127.0.0.1"), freeAddr(t, "127.0.0.1")
	cfg := relayConfig(t, dir, listen, sinkAddr) // no topology: a single server
	d := startUmbra(t, cfg, listen)
	if r := rawSend(t, listen, "s@example.org", []string{"r@remote.example"}, "Subject: before\r\n\r\nbody"); !strings.HasPrefix(r, "250") {
		t.Fatalf("send: %q", r)
	}
	backup := filepath.Join(dir, "queue.backup")
	if out, code := cli(t, cfg, "db", "backup", backup); code != 0 {
		t.Fatalf("db backup: exit %d %q", code, out)
	}
	d.kill()

	out, code := cli(t, cfg, "db", "restore", backup)
	if code != 0 || strings.Contains(out, "shadow server") ||
		!strings.Contains(out, "held no message beyond the backup with recipients still to deliver") {
		t.Fatalf("db restore on a single server: exit %d\n%s", code, out)
	}

	// A replaced database that cannot be read: what it held is not
	// known, and nothing brings back what it held beyond the backup.
	db := filepath.Join(dir, "data", "queue.db")
	if err := os.WriteFile(db, []byte(strings.Repeat("x", 64<<10)), 0o600); err != nil {
		t.Fatal(err)
	}
	out, code = cli(t, cfg, "db", "restore", backup)
	if code != 0 || strings.Contains(out, "shadow server keeps") || !strings.Contains(out, "could not be read") ||
		!strings.Contains(out, "no shadow servers") || !strings.Contains(out, "nor what it held suspended (message suspend, queue suspend) after the backup") {
		// The operator's holds made after the backup are not known
		// either: a restore that cannot keep them says so.
		t.Fatalf("db restore over an unreadable database on a single server: exit %d\n%s", code, out)
	}
}
