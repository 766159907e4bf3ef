package main

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"
)

// SR-5, SR-6 (shadow29 item 6): a primary that answers its heartbeats
// but offers no XSHADOW to this server (a reload took accept-xshadow
// from its connector) is alive and holds its mail: it advertises the
// digest of the database the copies were made against (XSHADOWDB) with
// or without the verb, and refuses the verb when asked. Its heartbeats
// are refusals by the primary, never failures: the copies are kept, not
// taken over (a takeover would deliver them a second time while it
// delivers its own), and shadow list says refused.
func TestSR6HeartbeatWithoutXShadowIsNoFailure(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := &shadowPair{ackDelay: "0s", dir: dir, a: freeAddr(t, "127.0.0.121"), b: freeAddr(t, "127.0.0.122"), sink: reserveAddr(t, "127.0.0.121")}
	topoPath := twoSiteTopology(t, p.dir, p.a, p.b, p.sink, "hub-b")
	p.cfgA, _ = orgHub(t, p.dir, "hub-a", p.a, topoPath, p.ackDelay, "")
	p.cfgB, p.dataB = orgHub(t, p.dir, "hub-b", p.b, topoPath, p.ackDelay, "")
	b := startUmbra(t, p.cfgB, p.b)
	a := startUmbra(t, p.cfgA, p.a)
	t.Cleanup(func() {
		if t.Failed() {
			a.dumpLog()
		}
	})
	sendMany(p.a, "noxshadow", 2, 1, nil) // the sink is down: hub-b keeps them
	waitCond(t, "hub-a to hold shadow copies for hub-b", 45*time.Second, func() bool { return p.queued(t, p.cfgA)["shadow:hub-b"] == 2 })
	reloadDaemon(t, b, func() {
		raw, _ := os.ReadFile(p.cfgB)
		cfg := strings.Replace(string(raw), "servers: [submit, relay, accept-xshadow]", "servers: [submit, relay]", 1)
		os.WriteFile(p.cfgB, []byte(cfg), 0o600)
	})
	logOf := func() string { l, _ := os.ReadFile(a.log); return string(l) }
	// Bounded by events, not by time: four heartbeats refused (one more
	// than the retry count), four failed, or the takeover.
	waitCond(t, "hub-a's heartbeats to meet hub-b without XSHADOW", 90*time.Second, func() bool {
		l := logOf()
		// The WARN is paced (once a minute, and at a change); each refused
		// heartbeat between is an INFO line saying "refused the heartbeat again".
		return strings.Count(l, `msg="primary refused the heartbeat`) >= 4 ||
			strings.Count(l, `msg="heartbeat failed`) >= 4 || strings.Contains(l, `msg="took over shadow copies"`)
	})
	if l := logOf(); strings.Contains(l, `msg="took over shadow copies"`) || strings.Contains(l, `msg="heartbeat failed`) {
		t.Fatal("hub-b answers and runs, offering no XSHADOW: hub-a counted failed heartbeats (or took its copies over)")
	}
	if shadow, _ := p.held(t, p.cfgA, "hub-b"); shadow != 2 {
		t.Errorf("hub-a holds %d shadow copies for hub-b, want 2 kept", shadow)
	}
	out, _ := cli(t, p.cfgA, "shadow", "list", "--json")
	var vs []struct {
		Primary string
		State   string
	}
	if json.Unmarshal([]byte(out), &vs); len(vs) != 1 || vs[0].State != "refused" {
		t.Errorf("shadow list of a primary that answers without XSHADOW does not say refused:\n%s", out)
	}
}
