package main

import (
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// rt27 F1: a primary that is only stopped (SIGSTOP) past the takeover
// delay comes back with its queue. hub-a took the message and pushed its
// copy to hub-b on receipt; its own way out is suspended. hub-a stops,
// hub-b takes the copy over and tries its own route to the outside,
// which defers (the sink is down). hub-a continues: hub-b gives the copy
// back (a held copy again) instead of sending it beside hub-a's
// original when the way out returns before hub-a releases the original,
// and the outside gets the message once.
func TestStoppedPrimaryBackGetsTakenCopyBack(t *testing.T) {
	t.Parallel()
	o := newReceiptHubs(t, "prefer-remote", false)
	// hub-b's heartbeats to the stopped hub-a hang until their bound.
	raw, _ := os.ReadFile(o.cfgB)
	cfg := strings.Replace(string(raw), "shadow_heartbeat_retry_count: 3}", "shadow_heartbeat_retry_count: 3, connect_timeout: 2s, command_timeout: 2s}", 1)
	if cfg == string(raw) {
		t.Fatal("orgHub's transport line changed: cannot bound the heartbeats")
	}
	os.WriteFile(o.cfgB, []byte(cfg), 0o600)
	ha, _ := o.start(t)
	p := &shadowPair{}
	o.sendCopied(t, "Subject: takeback\r\n\r\nhello")
	if _, code := cli(t, o.cfgA, "queue", "suspend", "smarthost:out"); code != 0 {
		t.Fatal("suspend smarthost:out on hub-a")
	}
	waitCond(t, "hub-b to hold the copy for hub-a", 30*time.Second, func() bool { s, _ := p.held(t, o.cfgB, "hub-a"); return s == 1 })

	if err := ha.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	waitCond(t, "hub-b to take the copy over and try its route", 90*time.Second, func() bool {
		s, pending := p.held(t, o.cfgB, "hub-a")
		out, _ := cli(t, o.cfgB, "track", "--json", "--sender", "a@example.org")
		return s == 0 && pending == 1 && strings.Contains(out, `"event": "takeover"`) && strings.Contains(out, `"event": "defer"`)
	})
	if err := ha.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	// hub-b's next heartbeat reaches hub-a and gives the copy back in
	// the same commit. Not "its failures are 0": the copy of the
	// taken-over message made again on hub-a, once it answers, clears
	// them a heartbeat before the give-back.
	// The wait is the check: read again after it, the queue could show
	// a later takeover (hub-a, just resumed, slow to answer on a loaded
	// machine), not what the give-back left.
	waitCond(t, "hub-b's heartbeat to reach hub-a and give the copy back", 60*time.Second, func() bool {
		s, pending := p.held(t, o.cfgB, "hub-a")
		return s == 1 && pending == 0
	})
	if out, _ := cli(t, o.cfgB, "track", "--json", "--event", "giveback", "--sender", "a@example.org"); !strings.Contains(out, `"event": "giveback"`) ||
		!strings.Contains(out, `"reply": "given back to hub-a`) {
		t.Errorf("hub-b's tracking log has no giveback event for the copy given back: %s", out)
	}

	// The way out is back before hub-a releases its original: a copy
	// hub-b still counted as its own would go out now (its retries are
	// a second apart), before hub-a's discard could settle it.
	sink := startRecorder(t, o.sink)
	time.Sleep(3 * time.Second)
	if _, code := cli(t, o.cfgA, "queue", "resume", "smarthost:out"); code != 0 {
		t.Fatal("resume smarthost:out on hub-a")
	}
	waitArrived(t, sink, []string{"takeback"}, ha)
	waitCond(t, "hub-b's copy to be discarded", 45*time.Second, func() bool { return len(p.queued(t, o.cfgB)) == 0 })
	time.Sleep(2 * time.Second) // a second copy still on its way would land now
	if n := sink.counts()["takeback"]; n != 1 {
		t.Fatalf("the message reached the outside %d times, want once", n)
	}
}
