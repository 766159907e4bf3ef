package main

import (
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// withResultCommitDelay sets transport.result_commit_delay in a written
// configuration (relayConfig's block form or orgHub's flow form).
func withResultCommitDelay(t *testing.T, cfg, delay string) {
	t.Helper()
	b, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	switch {
	case strings.Contains(s, "transport:\n"):
		s = strings.Replace(s, "transport:\n", "transport:\n  result_commit_delay: "+delay+"\n", 1)
	case strings.Contains(s, "transport: {"):
		s = strings.Replace(s, "transport: {", "transport: {result_commit_delay: "+delay+", ", 1)
	default:
		t.Fatalf("no transport section in %s", cfg)
	}
	if err := os.WriteFile(cfg, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}

// The results of an attempt nobody waits for wait for another commit
// (transport.result_commit_delay). kill -9 in that window — the next
// hop said 250, the result is not durable yet — repeats the delivery
// after the restart: a duplicate, never a loss (README, "Duplicates").
func TestKill9BeforeDeferredResultCommitRedelivers(t *testing.T) {
	dir := t.TempDir()
	listen, sinkAddr := freeAddr(t, "127.0.0.1"), freeAddr(t, "127.0.0.1")
	r := startRecorder(t, sinkAddr)
	cfg := relayConfig(t, dir, listen, sinkAddr)
	withResultCommitDelay(t, cfg, "1m") // no other writer comes: the result waits the full minute
	d := startUmbra(t, cfg, listen)
	if ok, err := send(listen, "deferred-result"); !ok {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); r.counts()["deferred-result"] == 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			d.dumpLog()
			t.Fatal("the next hop never got the message")
		}
	}
	d.kill() // after the next hop's 250, before the result's commit
	d = startUmbra(t, cfg, listen)
	for deadline := time.Now().Add(30 * time.Second); r.counts()["deferred-result"] < 2; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			d.dumpLog()
			t.Fatalf("delivered %d times: the result was durable before its commit was due, or the message was lost",
				r.counts()["deferred-result"])
		}
	}
	// The repeat's own result is committed by the stop (SIGTERM drains
	// and commits what is set aside): no third delivery after it.
	stopDaemon(t, d)
	d = startUmbra(t, cfg, listen)
	time.Sleep(2 * time.Second) // a repeat would come at once (due at start)
	if n := r.counts()["deferred-result"]; n != 2 {
		t.Fatalf("delivered %d times after a clean stop, want 2", n)
	}
}

// A sender waiting for delayed acknowledgement gets "confirmed" even when
// results may wait a minute for a commit: the edge's result (the sender
// waits on it) and the hub's (the edge waits in XQUERYDISCARD WAIT= for
// its discard) commit at once.
func TestDelayedAckNotHeldByResultCommitDelay(t *testing.T) {
	p := newShadowPairAck(t, "30s")
	withResultCommitDelay(t, p.cfgA, "1m")
	withResultCommitDelay(t, p.cfgB, "1m")
	sink := startRecorder(t, p.sink)
	startUmbra(t, p.cfgB, p.b)
	startUmbra(t, p.cfgA, p.a)
	for _, subject := range []string{"first", "second"} {
		s := rawDial(t, p.a)
		s.cmd("EHLO client.example", "250")
		s.cmd("MAIL FROM:<a@example.org>", "250")
		s.cmd("RCPT TO:<b@remote.example>", "250")
		s.cmd("DATA", "354")
		// Not confirmed within max_acknowledgement_delay (30s, shorter
		// than the minute a deferred result could wait) would be a plain 250.
		if r := s.cmd("Subject: "+subject+"\r\n\r\nwait for me\r\n.", "250")[0]; !strings.HasSuffix(r, ", confirmed by the next hop") {
			t.Fatalf("%s: %q", subject, r)
		}
		if sink.counts()[subject] != 1 {
			t.Fatalf("%s: 250 before the next hop had the message delivered", subject)
		}
	}
}

// stopDaemon stops d with SIGTERM (a drain) and waits for it to exit.
func stopDaemon(t *testing.T, d *daemon) {
	t.Helper()
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-d.done:
		d.done <- err
		if err != nil {
			d.dumpLog()
			t.Fatalf("umbra exited with %v after SIGTERM", err)
		}
	case <-time.After(40 * time.Second):
		d.dumpLog()
		t.Fatal("umbra did not stop within 40 s of SIGTERM (a result set aside held the stop?)")
	}
}
