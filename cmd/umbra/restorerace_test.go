package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// lockedBuffer is a bytes.Buffer two goroutines may use (a process's
// output read while it runs).
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// OPS-1, OPS-3, Q-5 (ops26 1): umbra serve started while umbra db
// restore runs — at its first second, before it has read the backup or
// counted what it leaves behind — waits for the restore, naming it, and
// then opens the restored database; the restore is not refused as in
// use. Before, the restore read and counted before it took any lock,
// and a serve started then opened the database first. Real processes:
// the restore is held once it holds its lock (UMBRA_TEST_HOLD_RESTORE)
// while serve starts.
func TestServeStartedDuringRestoreWaitsForIt(t *testing.T) {
	t.Parallel()
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

	hold := filepath.Join(dir, "hold")
	if err := os.WriteFile(hold, nil, 0o600); err != nil {
		t.Fatal(err)
	}
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
			break // the restore holds its lock, nothing read yet
		}
		if time.Now().After(end) {
			t.Fatalf("the restore did not reach its first step:\n%s", restoreOut.String())
		}
	}

	hostMarksOff(t, cfg)
	serve := exec.Command(umbraBin, "serve", "--config", cfg)
	var serveLog lockedBuffer
	serve.Stdout, serve.Stderr = &serveLog, &serveLog
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- serve.Wait() }()
	defer func() {
		serve.Process.Kill()
		<-served
	}()
	pid := strconv.Itoa(restore.Process.Pid)
	for end := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if l := serveLog.String(); strings.Contains(l, "waiting for it to end") && strings.Contains(l, "pid "+pid) && strings.Contains(l, "db restore") {
			break
		}
		select {
		case err := <-served:
			served <- err
			t.Fatalf("umbra serve exited while the restore ran (%v):\n%s", err, serveLog.String())
		default:
		}
		if time.Now().After(end) {
			t.Fatalf("umbra serve did not say it waits for the restore, pid %s:\n%s", pid, serveLog.String())
		}
	}
	// A command meanwhile: not "not running".
	if code, errOut := cliErr(t, cfg, "queue", "list"); code != exitStarting {
		t.Errorf("queue list while the restore runs and serve waits: exit %d %q, want %d", code, errOut, exitStarting)
	}

	os.Remove(hold)
	select {
	case err := <-restored:
		restored <- err
		if err != nil || !strings.Contains(restoreOut.String(), "new database id") {
			t.Fatalf("the restore, serve waiting: %v\n%s", err, restoreOut.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("the restore did not end:\n%s", restoreOut.String())
	}
	waitCond(t, "serve to open the restored database", 30*time.Second, func() bool {
		_, code := cli(t, cfg, "queue", "list")
		return code == 0
	})
	if !strings.Contains(serveLog.String(), "restored from a backup") {
		t.Errorf("serve did not open the restored database:\n%s", serveLog.String())
	}
}
