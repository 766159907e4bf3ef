package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// OPS-3, Q-5 (rt31c F1): db restore stopped by Ctrl-C (SIGINT) before it
// replaced the database died at once, exit 130 without a word, and left
// its queue.db.restore and spool.restore for the next start to judge. It
// stops at its next step instead, removes what it made, says the database
// is unchanged, and exits 130.
func TestOPS3RestoreInterruptedBeforeItsRenameSaysSoAndLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	listen, sink := freeAddr(t, "127.0.0.1"), freeAddr(t, "127.0.0.1")
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
	data := filepath.Join(dir, "data")
	before, err := os.Stat(filepath.Join(data, "queue.db"))
	if err != nil {
		t.Fatal(err)
	}
	hold := filepath.Join(dir, "hold")
	restore := exec.Command(umbraBin, "--config", cfg, "db", "restore", "--discard-newer", backup)
	restore.Env = append(os.Environ(), "UMBRA_TEST_HOLD_RESTORE="+hold)
	var out lockedBuffer
	restore.Stdout, restore.Stderr = &out, &out
	if err := restore.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- restore.Wait() }()
	defer func() {
		os.Remove(hold)
		restore.Process.Kill()
	}()
	for end := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if b, _ := os.ReadFile(hold); len(b) > 0 {
			break
		}
		if time.Now().After(end) {
			t.Fatalf("the restore did not reach its first step:\n%s", out.String())
		}
	}
	restore.Process.Signal(syscall.SIGINT)
	time.Sleep(100 * time.Millisecond) // the signal taken before the hold ends
	os.Remove(hold)
	var code int
	select {
	case err := <-done:
		code = restore.ProcessState.ExitCode()
		_ = err
	case <-time.After(60 * time.Second):
		t.Fatalf("the interrupted restore did not end:\n%s", out.String())
	}
	if code != 130 || !strings.Contains(out.String(), "interrupted") || !strings.Contains(out.String(), "unchanged") {
		t.Errorf("db restore interrupted before its rename: exit %d (signal %v), want 130 and words saying the database is unchanged:\n%s",
			code, restore.ProcessState, out.String())
	}
	for _, left := range []string{"queue.db.restore", "spool.restore", "queue.db.restore-compact", "queue.db.cmdlock"} {
		if _, err := os.Lstat(filepath.Join(data, left)); err == nil {
			t.Errorf("the interrupted restore left %s", left)
		}
	}
	if now, err := os.Stat(filepath.Join(data, "queue.db")); err != nil || !os.SameFile(before, now) {
		t.Errorf("the interrupted restore replaced the database (%v)", err)
	}
}
