package main

import (
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A SIGHUP that arrives while umbra starts (before "umbra ready": the
// walk of a large queue.db takes a while) does not end the process
// (rt58 F4): the reload asked is done once umbra is ready, and the log
// says so.
func TestSIGHUPBeforeReady(t *testing.T) {
	dir := t.TempDir()
	listen, sinkAddr := freeAddr(t, "127.0.0.1"), freeAddr(t, "127.0.0.1")
	cfg := relayConfig(t, dir, listen, sinkAddr)
	lf, err := os.Create(cfg + ".log")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(umbraBin, "serve", "--config", cfg)
	cmd.Stdout, cmd.Stderr = lf, lf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lf.Close()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() { cmd.Process.Kill(); <-done })
	// In the middle of the start: the database open, not ready yet.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(time.Millisecond) {
		if b, _ := os.ReadFile(cfg + ".log"); strings.Contains(string(b), "transport database open") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("umbra did not open its database")
		}
	}
	cmd.Process.Signal(syscall.SIGHUP)
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case err := <-done:
			b, _ := os.ReadFile(cfg + ".log")
			done <- err
			t.Fatalf("umbra ended after a SIGHUP during its start: %v\n%s", err, b)
		default:
		}
		if c, err := net.DialTimeout("tcp", listen, time.Second); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("umbra not ready")
		}
		time.Sleep(20 * time.Millisecond)
	}
	waitCond(t, "the reload asked during the start done after ready", 15*time.Second, func() bool {
		b, _ := os.ReadFile(cfg + ".log")
		return strings.Contains(string(b), "asked during the start") && strings.Contains(string(b), "reloaded")
	})
}

// A SIGHUP during the drain of a graceful stop is not attempted, and
// said so: not an ERROR "reload failed" nor a failed reload in the
// metrics (rt58 F7).
func TestSIGHUPDuringDrain(t *testing.T) {
	dir := t.TempDir()
	listen, sinkAddr := freeAddr(t, "127.0.0.1"), freeAddr(t, "127.0.0.1")
	cfg := relayConfig(t, dir, listen, sinkAddr)
	d := startUmbra(t, cfg, listen)
	// A session in DATA holds the drain open (up to 30 s).
	c, err := net.Dial("tcp", listen)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	rd := make([]byte, 4096)
	say := func(line string) {
		if line != "" {
			c.Write([]byte(line + "\r\n"))
		}
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Read(rd); err != nil {
			t.Fatalf("after %q: %v", line, err)
		}
	}
	say("")
	say("EHLO client.test")
	say("MAIL FROM:<a@example.org>")
	say("RCPT TO:<b@remote.example>")
	say("DATA")
	c.Write([]byte("Subject: held\r\n\r\nbody begun\r\n"))
	d.cmd.Process.Signal(syscall.SIGTERM)
	waitCond(t, "the drain to begin", 15*time.Second, func() bool {
		b, _ := os.ReadFile(d.log)
		return strings.Contains(string(b), "draining")
	})
	d.cmd.Process.Signal(syscall.SIGHUP)
	waitCond(t, "the SIGHUP logged as ignored", 15*time.Second, func() bool {
		b, _ := os.ReadFile(d.log)
		return strings.Contains(string(b), "SIGHUP ignored: umbra is stopping")
	})
	c.Write([]byte(".\r\nQUIT\r\n"))
	select {
	case <-d.done:
	case <-time.After(40 * time.Second):
		t.Fatal("umbra did not stop")
	}
	if b, _ := os.ReadFile(d.log); strings.Contains(string(b), "reload failed") {
		t.Errorf("a SIGHUP during the drain logged as a failed reload:\n%s", b)
	}
}
