package main

import (
	"encoding/json"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// rt21a M1: an operator's hold on a taken-over copy holds across the
// primary's return. hub-a took the message and pushed its copy to hub-b;
// its own way out is suspended. hub-a stops, hub-b takes the copy over,
// and hub-b's operator suspends it there. hub-a continues: hub-b gives
// the copy back with the hold (XQUERYTAKENDONE's HELD note, shadow verbs
// 16), and hub-a suspends its original — the way out back, the message
// stays held on hub-a, and hub-b's copy is discarded. hub-a's operator
// resumes it: the outside gets it once.
func TestStoppedPrimaryBackKeepsHoldOfTakenCopy(t *testing.T) {
	t.Parallel()
	o := newReceiptHubs(t, "prefer-remote", false)
	raw, _ := os.ReadFile(o.cfgB)
	cfg := strings.Replace(string(raw), "shadow_heartbeat_retry_count: 3}", "shadow_heartbeat_retry_count: 3, connect_timeout: 2s, command_timeout: 2s}", 1)
	if cfg == string(raw) {
		t.Fatal("orgHub's transport line changed: cannot bound the heartbeats")
	}
	os.WriteFile(o.cfgB, []byte(cfg), 0o600)
	ha, _ := o.start(t)
	p := &shadowPair{}
	o.sendCopied(t, "Subject: heldback\r\n\r\nhello")
	if _, code := cli(t, o.cfgA, "queue", "suspend", "smarthost:out"); code != 0 {
		t.Fatal("suspend smarthost:out on hub-a")
	}
	waitCond(t, "hub-b to hold the copy for hub-a", 30*time.Second, func() bool { s, _ := p.held(t, o.cfgB, "hub-a"); return s == 1 })
	idA := onlyMessage(t, o.cfgA)

	if err := ha.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	waitCond(t, "hub-b to take the copy over", 90*time.Second, func() bool {
		out, _ := cli(t, o.cfgB, "track", "--json", "--sender", "a@example.org")
		return strings.Contains(out, `"event": "takeover"`)
	})
	idB := onlyMessage(t, o.cfgB)
	if out, code := cli(t, o.cfgB, "message", "suspend", idB); code != 0 {
		ha.cmd.Process.Signal(syscall.SIGCONT)
		t.Fatalf("message suspend on hub-b: exit %d %s", code, out)
	}
	if err := ha.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	waitCond(t, "hub-b to give the held copy back", 60*time.Second, func() bool {
		out, _ := cli(t, o.cfgB, "track", "--json", "--event", "giveback", "--sender", "a@example.org")
		return strings.Contains(out, `"event": "giveback"`)
	})
	waitCond(t, "hub-a to hold its original as hub-b's operator held the copy", 30*time.Second, func() bool {
		return stateOf(t, o.cfgA, idA) == "suspended"
	})
	if out, _ := cli(t, o.cfgA, "message", "show", idA); !strings.Contains(out, "hub-b") {
		t.Errorf("hub-a's view of the held message does not say who held it:\n%s", out)
	}
	if out, _ := cli(t, o.cfgA, "track", "--json", "--event", "held-elsewhere"); !strings.Contains(out, `"event": "held-elsewhere"`) {
		t.Errorf("hub-a's tracking log has no held-elsewhere event: %s", out)
	}
	waitCond(t, "hub-b's copy to be discarded", 45*time.Second, func() bool { return len(p.queued(t, o.cfgB)) == 0 })

	sink := startRecorder(t, o.sink)
	if _, code := cli(t, o.cfgA, "queue", "resume", "smarthost:out"); code != 0 {
		t.Fatal("resume smarthost:out on hub-a")
	}
	time.Sleep(3 * time.Second) // a release of the hold would deliver now
	if n := sink.counts()["heldback"]; n != 0 {
		t.Fatalf("the held message reached the outside %d times, want not at all while held", n)
	}
	if out, code := cli(t, o.cfgA, "message", "resume", idA); code != 0 {
		t.Fatalf("message resume on hub-a: exit %d %s", code, out)
	}
	waitArrived(t, sink, []string{"heldback"}, ha)
	time.Sleep(2 * time.Second) // a second delivery on its way would land now
	if n := sink.counts()["heldback"]; n != 1 {
		t.Fatalf("the message reached the outside %d times, want once", n)
	}
}

// onlyMessage is the id of the one message cfg's server lists.
func onlyMessage(t *testing.T, cfg string) string {
	t.Helper()
	out, code := cli(t, cfg, "message", "list", "--json")
	var list []struct {
		ID string `json:"id"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &list) != nil || len(list) != 1 {
		t.Fatalf("message list: exit %d %s", code, out)
	}
	return list[0].ID
}

// stateOf is the state line of message id in cfg's server's view.
func stateOf(t *testing.T, cfg, id string) string {
	t.Helper()
	out, _ := cli(t, cfg, "message", "show", id)
	for _, l := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(l, "state:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
