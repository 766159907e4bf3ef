package main

import (
	"strings"
	"testing"
	"time"
)

// Issue 20 item 4, the Exchange documents' "primary returns with its old
// database": the primary delivers its own queue, and the shadow server's
// resubmitted copies must not be relayed a second time. hub-b holds two
// messages for the outside (its outbound queue held), hub-a shadows them;
// hub-b dies with its database intact, hub-a takes over and, with no
// other route, resends its copies to hub-b once it is back — or gives
// them back, when its heartbeat reaches hub-b first. hub-b recognises a
// resent copy by its organisation message id and merges it into the
// original it still holds: the external sink gets each message once.
func TestShadowPrimaryBackOldQueueExternal(t *testing.T) {
	t.Parallel()
	p := newShadowPair(t)
	b := startUmbra(t, p.cfgB, p.b)
	a := startUmbra(t, p.cfgA, p.a)
	acked := sendAll(t, nil, p.a, "back", 2, 1) // the sink is down: B keeps them
	waitCond(t, "hub-a to hold shadow copies for hub-b", 45*time.Second, func() bool { return p.queued(t, p.cfgA)["shadow:hub-b"] == 2 })
	if _, code := cli(t, p.cfgB, "queue", "suspend", "smarthost:out"); code != 0 {
		t.Fatal("suspend smarthost:out")
	}
	b.kill() // the database stays
	waitCond(t, "the takeover", 60*time.Second, func() bool {
		shadow, pending := p.held(t, p.cfgA, "hub-b")
		return shadow == 0 && pending == 2
	})
	b = startUmbra(t, p.cfgB, p.b) // back with its old queue
	waitCond(t, "hub-a to resend its copies to hub-b", 60*time.Second, func() bool {
		shadow, pending := p.held(t, p.cfgA, "hub-b")
		return pending == 0 && shadow == 2
	})
	if got := p.queued(t, p.cfgB)["smarthost:out"]; got != 2 {
		b.dumpLog()
		t.Fatalf("hub-b queues %d messages for the outside, want its 2 originals only", got)
	}
	sink := startRecorder(t, p.sink)
	if _, code := cli(t, p.cfgB, "queue", "resume", "smarthost:out"); code != 0 {
		t.Fatal("resume smarthost:out")
	}
	waitArrived(t, sink, acked, b)
	waitCond(t, "hub-a's copies to be discarded", 45*time.Second, func() bool { return len(p.queued(t, p.cfgA)) == 0 })
	time.Sleep(time.Second) // anything still on its way would land now
	for _, s := range acked {
		if n := sink.counts()[s]; n != 1 {
			a.dumpLog()
			b.dumpLog()
			t.Errorf("%s reached the outside %d times, want once", s, n)
		}
	}
	// Each copy is either resent and merged at hub-b (hub-a's retry
	// reached hub-b first) or given back as a held copy (hub-a's
	// heartbeat reached it first, with the same database): never both,
	// never neither. Each event is written after the commit it tells of,
	// which the queue listings above can show first: the two are read
	// until they add up (10 s at most).
	var out, outA string
	var merged, back int
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		out, _ = cli(t, p.cfgB, "track", "--json", "--sender", "a@example.org")
		outA, _ = cli(t, p.cfgA, "track", "--json", "--sender", "a@example.org")
		merged, back = strings.Count(out, `"event": "duplicate-suppressed"`), strings.Count(outA, `"reply": "given back to hub-b`)
		if merged+back >= 2 || time.Now().After(deadline) {
			break
		}
	}
	if merged+back != 2 {
		t.Errorf("hub-b logged %d merged copies and hub-a %d given back, want 2 in all", merged, back)
	}
	// The organisation message id is the same on both servers: one search
	// by it on hub-a finds the message's events there too.
	if i := strings.Index(out, `"org_id": "`); i < 0 {
		t.Errorf("no org id in hub-b's tracking log")
	} else {
		org := out[i+11 : i+43]
		if outA, _ := cli(t, p.cfgA, "track", "--json", "--message-id", org); !strings.Contains(outA, `"event": "receive"`) {
			t.Errorf("hub-a's tracking log has no receive event for org id %s:\n%s", org, outA)
		}
	}
}
