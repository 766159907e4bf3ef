package main

import (
	"os"
	"strings"
	"testing"
	"time"
)

// Issue 20 item 6: SIGHUP applies the shadow heartbeat settings to the
// running shadow manager instead of ignoring them silently.
func TestSIGHUPAppliesShadowSettings(t *testing.T) {
	dir := t.TempDir()
	listen, sinkAddr := freeAddr(t, "127.0.0.1"), freeAddr(t, "127.0.0.1")
	cfg := relayConfig(t, dir, listen, sinkAddr)
	orig, _ := os.ReadFile(cfg)
	d := startUmbra(t, cfg, listen)
	changed := strings.Replace(string(orig), "  retry_jitter: 0.1\n",
		"  retry_jitter: 0.1\n  shadow_heartbeat_timeout: 7s\n  shadow_heartbeat_retry_count: 5\n", 1)
	if err := os.WriteFile(cfg, []byte(changed), 0o600); err != nil {
		t.Fatal(err)
	}
	d.hup()
	deadline := time.Now().Add(30 * time.Second)
	for {
		b, _ := os.ReadFile(d.log)
		log := string(b)
		if i := strings.Index(log, "shadow heartbeat settings applied"); i >= 0 {
			line := log[i:]
			line = line[:strings.IndexByte(line, '\n')+1]
			if !strings.Contains(line, "shadow_heartbeat_timeout=7s") || !strings.Contains(line, "shadow_heartbeat_retry_count=5") {
				t.Fatalf("applied settings: %s", line)
			}
			if strings.Contains(log, "apply only after a restart") {
				t.Fatalf("shadow settings reported as restart-only:\n%s", log)
			}
			return
		}
		if time.Now().After(deadline) {
			d.dumpLog()
			t.Fatal("the reload did not apply the shadow heartbeat settings")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// SR-7 across the shadow server's own restart (issue 19 defect 1): hub-a
// holds copies for hub-b and is killed -9 and restarted; then hub-b is
// killed -9 and comes back with a new database. hub-a knows hub-b's old
// database id from its transport database, not from memory, so its first
// contact with the new hub-b resubmits the copies: all delivered.
func TestShadowServerRestartThenPrimaryNewDatabase(t *testing.T) {
	p := newShadowPair(t)
	b := startUmbra(t, p.cfgB, p.b)
	a := startUmbra(t, p.cfgA, p.a)
	acked := sendMany(p.a, "restart", 3, 1, nil) // the sink is down: hub-b keeps them
	waitCond(t, "hub-a to hold shadow copies for hub-b", 45*time.Second, func() bool { return p.queued(t, p.cfgA)["shadow:hub-b"] == 3 })
	a.kill()
	a = startUmbra(t, p.cfgA, p.a)
	p.bLosesDatabase(t, a, b, acked, "hub-a did not resubmit for the new database after its own restart")
}

// SR-16 (issue 20 item 3, issue 19 defect 2): after a takeover with no
// route, the copies wait in shadow:hub-b and hub-b is still heartbeated;
// when a replacement hub-b comes up (new database) the copies are routed
// at the next heartbeat, not at the next retry an hour later.
func TestTakenOverCopiesFollowReturningPrimary(t *testing.T) {
	t.Parallel()
	p := newShadowPair(t)
	editConfig(t, p.cfgA, "retry_schedule: [1s]", "retry_schedule: [1h]")
	b := startUmbra(t, p.cfgB, p.b)
	a := startUmbra(t, p.cfgA, p.a)
	acked := sendMany(p.a, "returning", 3, 1, nil) // the sink is down: hub-b keeps them
	waitCond(t, "hub-a to hold shadow copies for hub-b", 45*time.Second, func() bool { return p.queued(t, p.cfgA)["shadow:hub-b"] == 3 })
	b.kill()
	os.RemoveAll(p.dataB)
	waitCond(t, "the takeover and a failed attempt without a route", 60*time.Second, func() bool {
		shadow, pending := p.held(t, p.cfgA, "hub-b")
		log, _ := os.ReadFile(a.log)
		return shadow == 0 && pending == 3 && strings.Count(string(log), `event=defer`) >= 3
	})
	out, _ := cli(t, p.cfgA, "shadow", "list", "--json")
	if !strings.Contains(out, `"taken_over": true`) || !strings.Contains(out, `"last_contact"`) {
		t.Fatalf("a primary whose copies were all taken over is not watched:\n%s", out)
	}
	sink := startRecorder(t, p.sink)
	startUmbra(t, p.cfgB, p.b) // a new hub-b, with a new database
	waitArrived(t, sink, acked, a)
}
