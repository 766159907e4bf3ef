package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// rt23: a copy taken over while the queue of its route was suspended sat
// ready in its shadow queue after that queue was resumed — held for the
// hold's hour where the resume never looked. Now the takeover's attempt
// holds it in the suspended queue (listed there, held), and the resume
// makes it due at once.
func TestTakenOverCopyHeldBySuspendedRouteGoesOnResume(t *testing.T) {
	t.Parallel()
	dir, a, b, cfgA, cfgB := mailboxOrg(t)
	hb := startUmbra(t, cfgB, b)
	startUmbra(t, cfgA, a)
	p := &shadowPair{}
	if _, code := cli(t, cfgB, "queue", "suspend", "mailbox:local"); code != 0 {
		t.Fatal("suspend at B")
	}
	msg := "Message-ID: <held-takeover@example.org>\r\nSubject: held takeover\r\n\r\nbody"
	if r := rawSend(t, a, "s@example.org", []string{"bob@example.test"}, msg); !strings.HasPrefix(r, "250") {
		t.Fatalf("send: %q", r)
	}
	waitCond(t, "A to shadow the message at B", 45*time.Second, func() bool { return p.queued(t, cfgA)["shadow:hub-b"] == 1 })
	// A's route to B is suspended when B dies: the takeover's attempt
	// finds the route held.
	if _, code := cli(t, cfgA, "queue", "suspend", "site:b"); code != 0 {
		t.Fatal("suspend at A")
	}
	hb.kill()
	waitCond(t, "A to take the copy over and hold it in site:b", 60*time.Second, func() bool {
		q := p.queued(t, cfgA)
		return q["site:b"] == 1 && q["shadow:hub-b"] == 0
	})
	out, _ := cli(t, cfgA, "message", "list", "--json")
	var msgs []struct{ State string }
	if json.Unmarshal([]byte(out), &msgs); len(msgs) != 1 || msgs[0].State != "held" {
		t.Errorf("A lists the taken-over copy as %+v, want one held message:\n%s", msgs, out)
	}
	// Resumed while B is still down: once B answers again with its
	// database, a heartbeat gives a copy still waiting in a suspended
	// route back to it (README, A primary back with its old queue), so a
	// resume after B's return would race that heartbeat (one second
	// here) and find nothing due whenever B's start takes longer.
	if out, code := cli(t, cfgA, "queue", "resume", "site:b"); code != 0 || !strings.Contains(out, "(1 message due now") {
		t.Fatalf("resume site:b at A: exit %d %q", code, out)
	}
	out, _ = cli(t, cfgA, "message", "list", "--json")
	if json.Unmarshal([]byte(out), &msgs); len(msgs) == 1 && msgs[0].State == "held" {
		t.Errorf("the resumed copy is still held:\n%s", out)
	}
	hb = startUmbra(t, cfgB, b) // back with its database, its own copy held
	cli(t, cfgB, "queue", "resume", "mailbox:local")
	waitMailboxOrgDone(t, dir, cfgA, cfgB, hb, 60*time.Second, func(got int) bool { return got == 1 })
}
