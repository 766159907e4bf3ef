package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// SR-6, SR-7, SR-11: hub-b holds a message hub-x relayed to it in a
// shadow session and cannot deliver it yet; hub-a relays a copy of the
// same message (same org id) to hub-b in a shadow session of its own,
// which merges into the original: hub-b carries hub-a's copy
// (carriedcopies), and hub-a holds it as a shadow copy for hub-b. hub-b
// is killed -9.
//
// Back with a new database (its data directory wiped: the original is
// lost), hub-b is a lost primary for hub-a like any other: hub-a takes
// its copy back over and the message is delivered once. hub-a's failed
// heartbeats take over only after a minute here, so the new database
// id is what must make it.
func TestCarriedCopyHolderLosesDatabase(t *testing.T) {
	t.Parallel()
	carriedHolderRestart(t, true)
}

// Back with its database, hub-b delivers the original and hub-a's copy
// gets its discard: delivered once, and hub-a does not wait on it for
// ever.
func TestCarriedCopyHolderBackSameDatabase(t *testing.T) {
	t.Parallel()
	carriedHolderRestart(t, false)
}

// carriedAtHubB sets up the pair p so that hub-b holds a message (subject
// subj, recipients rcpts) hub-x relayed to it in a shadow session, Ready
// after a first attempt the next hop did not answer (retried only when
// told), and carries the copy hub-a relayed to it in a shadow session of
// its own; hub-a holds that copy for hub-b. hub-a's failed heartbeats
// take over only after a minute: within a test, a takeover is the new
// database id's.
func carriedAtHubB(t *testing.T, p *shadowPair, subj string, rcpts ...string) (a, b *daemon) {
	t.Helper()
	// hub-x: a third hub of the organisation, gone (nothing listens).
	topo := filepath.Join(p.dir, "topology.yaml")
	editConfig(t, topo, "servers:\n", fmt.Sprintf("servers:\n  - {name: hub-x, role: hub, site: a, address: %q, source_addresses: [127.0.0.1]}\n", reserveAddr(t, "127.0.0.3")))
	editConfig(t, p.cfgB, "retry_schedule: [1s]", "retry_schedule: [1h]")
	editConfig(t, p.cfgA, "shadow_heartbeat_retry_count: 3", "shadow_heartbeat_retry_count: 60")
	b = startUmbra(t, p.cfgB, p.b)
	a = startUmbra(t, p.cfgA, p.a)
	a.dumpLogIfFailed()
	const org = "00112233445566778899aabbccddeeff"
	text := "X-Umbra-Org-Id: " + org + "\r\nSubject: " + subj + "\r\n\r\nonce"

	x := rawDial(t, p.b)
	x.cmd("EHLO hub-x", "250")
	x.cmd("XSHADOW hub-x", "250 ")
	x.cmd("MAIL FROM:<a@example.org> XSHADOW=hubx-0001", "250")
	for _, r := range rcpts {
		x.cmd("RCPT TO:<"+r+">", "250")
	}
	x.cmd("DATA", "354")
	x.cmd(text+"\r\n.", "250")
	x.cmd("QUIT", "221")
	waitCond(t, "the original's first attempt at hub-b to fail", 20*time.Second, func() bool {
		out, _ := cli(t, p.cfgB, "track", "--json", "--event", "defer")
		return strings.Contains(out, `"event": "defer"`)
	})
	if r := rawSend(t, p.a, "a@example.org", rcpts, text); !strings.HasPrefix(r, "250") {
		t.Fatalf("hub-a refused the copy: %s", r)
	}
	waitCond(t, "hub-a to hold its copy for hub-b", 30*time.Second, func() bool { return p.queued(t, p.cfgA)["shadow:hub-b"] == 1 })
	out, _ := cli(t, p.cfgB, "track", "--json", "--event", "duplicate-suppressed")
	if strings.Count(out, `"event": "duplicate-suppressed"`) != len(rcpts) {
		b.dumpLog()
		t.Fatalf("hub-a's copy did not merge into hub-b's original (the fixture is wrong):\n%s", out)
	}
	return a, b
}

// SR-4, SR-6, SR-7: the carried copy is settled recipient by recipient.
// hub-b's original (from hub-x) carries hub-a's copy of one@ and late@;
// the next hop takes one@ and defers late@ (452): hub-b's results commit
// owes hub-a a partial discard for one@, and hub-a marks it done in its
// copy. hub-b is then killed -9 and comes back with a new database:
// hub-a takes over what is left — late@ alone. Each recipient reaches
// the sink once. Before, the carried copy was settled only at the
// original's end: hub-a took over both and one@ had the message twice.
func TestCarriedCopyPartialThenHolderLost(t *testing.T) {
	t.Parallel()
	p := newShadowPair(t)
	const subj, one, late = "carried-partial", "one@remote.example", "late@remote.example"
	a, b := carriedAtHubB(t, p, subj, one, late)
	b.dumpLogIfFailed()
	sink := startRcptSink(t, p.sink, late)
	if out, code := cli(t, p.cfgB, "queue", "flush"); code != 0 {
		t.Fatalf("flush: %s", out)
	}
	waitCond(t, "hub-b to deliver one@", 30*time.Second, func() bool { return sink.count(one, subj) == 1 })
	waitCond(t, "hub-a to apply hub-b's partial discard", 30*time.Second, func() bool {
		out, _ := cli(t, p.cfgA, "track", "--json", "--sender", "a@example.org")
		return strings.Count(out, "partial discard notification from hub-b") == 1
	})
	b.kill()
	os.RemoveAll(p.dataB)
	sink.defOn.Store(false)
	startUmbra(t, p.cfgB, p.b)
	waitCond(t, "late@ delivered after hub-a's takeover", 40*time.Second, func() bool { return sink.count(late, subj) == 1 })
	waitCond(t, "hub-a to let go of its copy", 30*time.Second, func() bool { return len(p.queued(t, p.cfgA)) == 0 })
	time.Sleep(2 * time.Second) // a second delivery would come within heartbeats
	for _, r := range []string{one, late} {
		if n := sink.count(r, subj); n != 1 {
			a.dumpLog()
			t.Errorf("%s received the message %d times, want once", r, n)
		}
	}
}

func carriedHolderRestart(t *testing.T, wipe bool) {
	p := newShadowPair(t)
	const subj = "carried-holder"
	a, b := carriedAtHubB(t, p, subj, "b@remote.example")

	b.kill()
	if wipe {
		os.RemoveAll(p.dataB)
	}
	sink := startRecorder(t, p.sink)
	b = startUmbra(t, p.cfgB, p.b)
	b.dumpLogIfFailed()
	if !wipe {
		if out, code := cli(t, p.cfgB, "queue", "flush"); code != 0 {
			t.Fatalf("flush: %s", out)
		}
	}
	deadline := time.Now().Add(40 * time.Second)
	for sink.counts()[subj] == 0 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if n := sink.counts()[subj]; n != 1 {
		a.dumpLog()
		t.Fatalf("the message was delivered %d times after hub-b came back (wiped: %v); want once", n, wipe)
	}
	waitCond(t, "hub-a to let go of its copy", 30*time.Second, func() bool {
		s, pending := p.held(t, p.cfgA, "hub-b")
		return s == 0 && pending == 0 && len(p.queued(t, p.cfgA)) == 0
	})
	time.Sleep(3 * time.Second) // a second delivery would come within heartbeats
	if n := sink.counts()[subj]; n != 1 {
		t.Fatalf("the message was delivered %d times (wiped: %v); want once", n, wipe)
	}
}
