package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// SR-12, OPS: a message the replaced database holds beyond the backup
// whose pickup file (NAME.<id>.queued) is still in the pickup directory
// is not left behind by db restore: the next start gives the file back
// as NAME.restored-ID.eml and submits it again (README, Pickup
// directory). So the restore does not refuse for it, and its summary
// says it comes back from its file, not that it is "left in it and not
// delivered" (rt41 F3).
func TestSR12RestoreCountsPickupFilesAsCovered(t *testing.T) {
	dir := t.TempDir()
	listen := freeAddr(t, "127.0.0.169")
	cfg := relayConfig(t, dir, listen, reserveAddr(t, "127.0.0.169")) // nothing answers: the messages stay queued
	b, _ := os.ReadFile(cfg)
	os.WriteFile(cfg, append(b, []byte("pickup: {directory: pickup, interval: 100ms}\n")...), 0o600)
	d := startUmbra(t, cfg, listen)
	d.dumpLogIfFailed()
	pick := filepath.Join(dir, "data", "pickup")
	drop := func(name string) {
		t.Helper()
		tmp := filepath.Join(pick, ".tmp-"+name)
		if err := os.WriteFile(tmp, []byte("X-Sender: app@example.org\nX-Receiver: r@remote.example\nSubject: "+name+"\n\nhi\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(pick, name+".eml")); err != nil {
			t.Fatal(err)
		}
		waitCond(t, name+" queued", 30*time.Second, func() bool {
			m, _ := filepath.Glob(filepath.Join(pick, name+".*.queued"))
			return len(m) == 1
		})
	}
	drop("before")
	backup := filepath.Join(dir, "queue.backup")
	if out, code := cli(t, cfg, "db", "backup", backup); code != 0 {
		t.Fatalf("db backup: exit %d %q", code, out)
	}
	drop("after")
	d.kill()

	out, code := cli(t, cfg, "db", "restore", backup)
	if code != 0 || strings.Contains(out, "not delivered") || strings.Contains(out, "left in it") ||
		!strings.Contains(out, "1 message the replaced database held beyond the backup comes back from its file in the pickup directory") {
		t.Fatalf("db restore with a pickup message beyond the backup: exit %d\n%s", code, out)
	}
	// And it does: the next start gives its file back and submits it.
	d = startUmbra(t, cfg, listen)
	d.dumpLogIfFailed()
	waitCond(t, "after given back and queued again", 30*time.Second, func() bool {
		m, _ := filepath.Glob(filepath.Join(pick, "after.restored-*.queued"))
		return len(m) == 1
	})
}
