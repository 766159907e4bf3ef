package main

import (
	"strings"
	"syscall"
	"testing"
	"time"
)

// rt16a F1 (SR-8, SR-11): hub-a relayed a message to hub-b in a shadow
// session and holds the copy; hub-b defers it (its way out is down) and
// is killed -9. hub-a takes the copy over after its failed heartbeats
// and keeps retrying it through hub-b, the only way out. hub-b comes
// back with the same database while hub-a is stopped, and delivers its
// original. hub-a continues: the retry of the taken-over copy is due at
// once, as its heartbeat is — the relay session can meet hub-b first.
// Seeing hub-b answer XSHADOW with the database the copy was taken over
// from, it gives the copy back unsent, and hub-b's discard settles it:
// the outside gets the message once.
func TestRelayToReturningPrimaryGivesTakenCopyBack(t *testing.T) {
	t.Parallel()
	p := newShadowPair(t)
	hb := startUmbra(t, p.cfgB, p.b)
	ha := startUmbra(t, p.cfgA, p.a)
	ha.dumpLogIfFailed()
	if reply := rawSend(t, p.a, "a@example.org", []string{"b@remote.example"}, "Subject: relayback\r\n\r\nhello"); !strings.HasPrefix(reply, "250") {
		t.Fatalf("reply %q", reply)
	}
	waitCond(t, "hub-a to hold the copy for hub-b", 30*time.Second, func() bool { s, _ := p.held(t, p.cfgA, "hub-b"); return s == 1 })
	hb.kill()
	waitCond(t, "hub-a to take the copy over and retry it", 60*time.Second, func() bool {
		s, pending := p.held(t, p.cfgA, "hub-b")
		out, _ := cli(t, p.cfgA, "track", "--json", "--sender", "a@example.org")
		return s == 0 && pending == 1 && strings.Contains(out, `"event": "takeover"`)
	})
	if err := ha.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	stopped := true
	defer func() {
		if stopped {
			ha.cmd.Process.Signal(syscall.SIGCONT)
		}
	}()
	sink := startRecorder(t, p.sink)
	hb2 := startUmbra(t, p.cfgB, p.b)
	hb2.dumpLogIfFailed()
	waitArrived(t, sink, []string{"relayback"}, hb2)
	waitCond(t, "hub-b to finish its original", 30*time.Second, func() bool { return len(p.queued(t, p.cfgB)) == 0 })
	time.Sleep(1500 * time.Millisecond) // hub-a's retry and heartbeat both fall due
	if err := ha.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	stopped = false
	waitCond(t, "hub-a's copy to be settled", 45*time.Second, func() bool { return len(p.queued(t, p.cfgA)) == 0 })
	waitCond(t, "hub-b's queue to empty", 30*time.Second, func() bool { return len(p.queued(t, p.cfgB)) == 0 })
	time.Sleep(2 * time.Second) // a second copy on its way would land now
	if n := sink.counts()["relayback"]; n != 1 {
		t.Fatalf("the message reached the outside %d times, want once", n)
	}
	if out, ok := trackedWithin(t, p.cfgA, `"event": "giveback"`, "--event", "giveback", "--sender", "a@example.org"); !ok {
		t.Errorf("hub-a's tracking log has no giveback event for the copy: %s", out)
	}
}
