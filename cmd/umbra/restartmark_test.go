package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// OPS-3 (rr24 F3): a daemon started while the one before it still ends
// its stop (its "stopping" mark holds the abstract name) takes its start
// mark once the old one exits (retried, startMark.moveTo): until it locks
// the database commands say "starting" (exit 75) of it, not "not
// running" (exit 69). It is held in its configuration check throughout,
// so the answer is polled for a bounded time: the retry's interval.
func TestStartDuringTheLastOnesStopIsMarked(t *testing.T) {
	dir := t.TempDir()
	listen := freeAddr(t, "127.0.0.1")
	cfg := relayConfig(t, dir, listen, reserveAddr(t, "127.0.0.1"))
	holdStop := filepath.Join(dir, "holdstop")
	holdStart := filepath.Join(dir, "holdstart")
	os.WriteFile(holdStop, nil, 0o600)
	os.WriteFile(holdStart, nil, 0o600)
	start := func(env string) (*exec.Cmd, chan error, *bytes.Buffer) {
		hostMarksOff(t, cfg)
		cmd := exec.Command(umbraBin, "serve", "--config", cfg)
		cmd.Env = append(os.Environ(), env)
		var log bytes.Buffer
		cmd.Stdout, cmd.Stderr = &log, &log
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		t.Cleanup(func() { cmd.Process.Kill(); <-done })
		return cmd, done, &log
	}
	wait := func(what string, ok func() bool) {
		for deadline := time.Now().Add(60 * time.Second); !ok(); time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("timed out: %s", what)
			}
		}
	}
	a, aDone, _ := start("UMBRA_TEST_HOLD_STOP=" + holdStop)
	wait("A ready", func() bool { _, code := cli(t, cfg, "queue", "list"); return code == 0 })
	a.Process.Signal(syscall.SIGTERM)
	wait("A at the end of its stop", func() bool { b, _ := os.ReadFile(holdStop); return len(b) > 0 })
	b, _, _ := start("UMBRA_TEST_HOLD_START=" + holdStart)
	wait("B in its configuration check", func() bool { c, _ := os.ReadFile(holdStart); return len(c) > 0 })
	os.Remove(holdStop) // A exits
	select {
	case err := <-aDone:
		aDone <- err
	case <-time.After(30 * time.Second):
		t.Fatal("A did not exit")
	}
	var code int
	var errOut string
	for i := 0; i < 100; i++ { // 100 × 50 ms at least; the mark is retried every 50 ms
		code, errOut = cliErr(t, cfg, "queue", "list")
		if code == exitStarting {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if c, _ := os.ReadFile(holdStart); len(c) == 0 {
		t.Fatal("B left its configuration check: the test does not test the time before its database")
	}
	if code != exitStarting || !strings.Contains(errOut, "pid "+strconv.Itoa(b.Process.Pid)) {
		t.Fatalf("umbra queue list while B (pid %d) checks its configuration, A gone: exit %d %q; want exit %d, starting",
			b.Process.Pid, code, errOut, exitStarting)
	}
}
