package main

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// OPS-3, Q-5 (ops27 3): db compact and db restore read nothing before
// they hold the db commands' side lock (queue.db.cmdlock): compact read
// the database's schema version for its note, and restore the backup's
// origin, before it, so that while another db command held the lock
// (here a restore, held at its first step) compact told of the schema
// of a file that command was about to replace, and a restore refused on
// what it had read instead of on the command running; a serve started
// during such a read found the database's lock taken. Now both are
// refused as another db command's, having read nothing. Real processes.
func TestDBCommandsReadNothingBeforeTheSideLock(t *testing.T) {
	dir := t.TempDir()
	listen, sink := freeAddr(t, "127.0.0.182"), freeAddr(t, "127.0.0.182")
	cfg := relayConfig(t, dir, listen, sink)
	d := startUmbra(t, cfg, listen)
	if r := rawSend(t, listen, "s@example.org", []string{"bob@example.test"}, "Subject: backed up\r\n\r\nbody"); !strings.HasPrefix(r, "250") {
		t.Fatalf("send: %q", r)
	}
	backup := filepath.Join(dir, "b.db")
	if out, code := cli(t, cfg, "db", "backup", backup); code != 0 {
		t.Fatalf("db backup: exit %d %q", code, out)
	}
	d.kill()
	// The database in an older schema version: compact's note names it.
	if out, code := cliCombined(t, cfg, "db", "compact", "--schema", "4"); code != 0 {
		t.Fatalf("db compact --schema 4: exit %d %s", code, out)
	}
	// A server's own database given as the backup: refused by its origin.
	serverDB := filepath.Join(dir, "server.db")
	src, err := os.Open(filepath.Join(dir, "data", "queue.db"))
	if err != nil {
		t.Fatal(err)
	}
	dst, _ := os.Create(serverDB)
	io.Copy(dst, src)
	src.Close()
	dst.Close()

	hold := filepath.Join(dir, "hold")
	os.WriteFile(hold, nil, 0o600)
	restore := exec.Command(umbraBin, "--config", cfg, "db", "restore", "--discard-newer", backup)
	restore.Env = append(os.Environ(), "UMBRA_TEST_HOLD_RESTORE="+hold)
	var restoreOut lockedBuffer
	restore.Stdout, restore.Stderr = &restoreOut, &restoreOut
	if err := restore.Start(); err != nil {
		t.Fatal(err)
	}
	restored := make(chan error, 1)
	go func() { restored <- restore.Wait() }()
	defer func() {
		os.Remove(hold)
		restore.Process.Kill()
		<-restored
	}()
	for end := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if b, _ := os.ReadFile(hold); len(b) > 0 {
			break // the restore holds the side lock
		}
		if time.Now().After(end) {
			t.Fatalf("the restore did not reach its first step:\n%s", restoreOut.String())
		}
	}

	out, code := cliCombined(t, cfg, "db", "compact")
	if code == 0 || !strings.Contains(out, "another db command") || strings.Contains(out, "schema version 4") {
		t.Errorf("db compact while a restore holds the side lock: exit %d\n%s\nwant refused as another db command's, nothing of the database read (no schema note)", code, out)
	}
	out, code = cliCombined(t, cfg, "db", "restore", serverDB)
	if code == 0 || !strings.Contains(out, "another db command") || strings.Contains(out, "not a backup") {
		t.Errorf("db restore while a restore holds the side lock: exit %d\n%s\nwant refused as another db command's, the backup not read first", code, out)
	}

	os.Remove(hold)
	select {
	case err := <-restored:
		restored <- err
		if err != nil {
			t.Fatalf("the held restore: %v\n%s", err, restoreOut.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("the restore did not end:\n%s", restoreOut.String())
	}
	// Alone, each reads what it did before, under its lock: the origin
	// refusal, and the compaction of the restored file.
	if out, code := cliCombined(t, cfg, "db", "restore", serverDB); code == 0 || !strings.Contains(out, "not a backup") {
		t.Errorf("db restore of a server's own database: exit %d\n%s\nwant refused as not a backup", code, out)
	}
	if out, code := cliCombined(t, cfg, "db", "compact"); code != 0 || !strings.Contains(out, "compacted") {
		t.Errorf("db compact: exit %d\n%s", code, out)
	}
}
