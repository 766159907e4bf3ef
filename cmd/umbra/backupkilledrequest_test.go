package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// OPS-3 (db backup): a daemon killed (kill -9) once it took the backup's
// request, before a byte of the copy was sent, stopped during the
// backup: `umbra stopped during the backup …; no file was written`,
// exit 69, never "umbra is not running" — the CLI asked the daemon
// which file it runs first, and the transport sent the unanswered GET
// again on a new connection, whose dial found nothing listening
// (lifert38-F2). A real daemon, held in its backup handler by a test
// hook, is killed there.
func TestOPS3BackupKilledAfterItsRequestIsStoppedNotNotRunning(t *testing.T) {
	dir := t.TempDir()
	listen := addrInRange(t, "127.0.0.123", 8500, 250)
	cfg := relayConfig(t, dir, listen, addrInRange(t, "127.0.0.123", 8750, 250))
	hold := filepath.Join(dir, "hold-backup")
	if err := os.WriteFile(hold, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("UMBRA_TEST_HOLD_BACKUP", hold) // the daemon's environment; the CLI does not read it
	d := startUmbra(t, cfg, listen)
	defer d.kill()
	out := filepath.Join(t.TempDir(), "b.db")
	cmd := exec.Command(umbraBin, "--config", cfg, "db", "backup", out)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	defer func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			<-done
		}
	}()
	waitCond(t, "the daemon to hold the backup's request", 30*time.Second, func() bool {
		b, _ := os.ReadFile(hold)
		return len(b) > 0
	})
	d.kill() // SIGKILL
	var err error
	select {
	case err = <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("db backup did not end after the daemon was killed")
	}
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	}
	t.Logf("exit %d: %s", code, stderr.String())
	if code != exitUnavailable || !strings.Contains(stderr.String(), "umbra stopped during the backup") ||
		strings.Contains(stderr.String(), "not running") || !strings.Contains(stderr.String(), "no file was written") {
		t.Errorf("db backup, its daemon killed after it took the request: exit %d %q; want exit %d, umbra stopped during the backup",
			code, stderr.String(), exitUnavailable)
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("a backup file was left")
	}
}
