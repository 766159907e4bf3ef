package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// SR-3, SR-5, SR-6 (ident18 item 3): hub-a keeps the shadow copies of two
// messages it relayed to hub-b (the sink is down: hub-b keeps them).
// hub-b moves to another address — its binding and its topology address
// change — and hub-a reloads the topology (SIGHUP) between the copies
// being taken and their discards. The copies follow hub-b by its
// identity (its server name and database id), not by the address they
// were made at: hub-a's heartbeats go to the new address and fetch the
// discards once hub-b delivered, nothing is taken over, and the sink
// gets each message once.
func TestShadowCopiesFollowMovedPrimary(t *testing.T) {
	t.Parallel()
	p := newShadowPair(t)
	// Room for the move: a takeover needs ten failed heartbeats.
	c, _ := os.ReadFile(p.cfgA)
	os.WriteFile(p.cfgA, []byte(strings.Replace(string(c), "shadow_heartbeat_retry_count: 3", "shadow_heartbeat_retry_count: 10", 1)), 0o600)
	b := startUmbra(t, p.cfgB, p.b)
	a := startUmbra(t, p.cfgA, p.a)
	acked := sendMany(p.a, "moved", 2, 1, nil)
	if len(acked) != 2 {
		t.Fatalf("acknowledged %d of 2", len(acked))
	}
	waitCond(t, "hub-a to hold shadow copies for hub-b", 45*time.Second, func() bool { return p.queued(t, p.cfgA)["shadow:hub-b"] == 2 })
	b.kill()
	moved := freeAddr(t, "127.0.0.2")
	for _, f := range []string{filepath.Join(p.dir, "topology.yaml"), p.cfgB} {
		c, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f, []byte(strings.ReplaceAll(string(c), p.b, moved)), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	a.hup()
	waitCond(t, "hub-a's reload", 30*time.Second, func() bool {
		l, _ := os.ReadFile(a.log)
		return strings.Contains(string(l), `msg="configuration reloaded"`)
	})
	b = startUmbra(t, p.cfgB, moved)
	sink := startRecorder(t, p.sink)
	waitArrived(t, sink, acked, b)
	waitCond(t, "hub-a's copies to be discarded", 45*time.Second, func() bool { return len(p.queued(t, p.cfgA)) == 0 })
	time.Sleep(time.Second) // anything still on its way would land now
	for _, s := range acked {
		if n := sink.counts()[s]; n != 1 {
			a.dumpLog()
			t.Fatalf("%s arrived %d times, want once", s, n)
		}
	}
	if l, _ := os.ReadFile(a.log); strings.Contains(string(l), `msg="took over shadow copies"`) {
		a.dumpLog()
		t.Fatal("hub-a took over the copies of a primary that only moved")
	}
}
