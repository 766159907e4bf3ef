package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// An operator's hold (message suspend) is a hold on every server: the
// commit that suspends the message writes the discard notification for
// its shadow copy, so the shadow server drops the copy and has nothing to
// take over when the holder dies. Otherwise hub-b delivered the held
// messages after hub-a's kill -9, and hub-a, back with the hold still
// shown, delivered them a second time when the operator released them.
// After the release each message arrives once.
func TestHoldSettlesShadowCopies(t *testing.T) {
	a, b, sinkAddr, cfgA, _, cfgB := receiptOrg(t, "prefer-remote")
	hb := startUmbra(t, cfgB, b)
	ha := startUmbra(t, cfgA, a) // the sink is down: hub-a keeps the mail
	// Subjects of this process only: what another test run sends to a
	// port it once chose cannot pass for a held message delivered.
	acked := sendMany(a, fmt.Sprintf("hold%d", os.Getpid()), 2, 1, nil)
	if len(acked) != 2 {
		ha.dumpLog()
		t.Fatalf("%d of 2 acknowledged", len(acked))
	}
	p := &shadowPair{}
	waitCond(t, "hub-b to hold the copies for hub-a", 30e9, func() bool { s, _ := p.held(t, cfgB, "hub-a"); return s == 2 })
	// A message in an attempt (toward the dead sink) is not suspended:
	// ask until both are held.
	waitCond(t, "hub-a to hold both messages", 30e9, func() bool {
		cli(t, cfgA, "message", "suspend", "--to", "remote.example")
		out, _ := cli(t, cfgA, "message", "list", "--state", "suspended")
		return strings.Count(out, "suspended") == 2
	})
	waitCond(t, "hub-b to drop the copies of the held messages", 30e9, func() bool {
		s, pend := p.held(t, cfgB, "hub-a")
		return s == 0 && pend == 0
	})
	ha.kill()
	sink := startRecorder(t, sinkAddr)
	ha = startUmbra(t, cfgA, a)
	out, _ := cli(t, cfgA, "message", "list", "--state", "suspended")
	if n := strings.Count(out, "suspended"); n != 2 {
		t.Fatalf("hub-a lists %d suspended messages after its restart, want 2:\n%s", n, out)
	}
	got := sink.counts()
	for _, s := range acked {
		if got[s] != 0 {
			hb.dumpLog()
			ha.dumpLog()
			t.Fatalf("held message %s was delivered while held (%d times)", s, got[s])
		}
	}
	if out, code := cli(t, cfgA, "message", "resume", "--state", "suspended"); code != 0 {
		t.Fatalf("message resume: exit %d\n%s", code, out)
	}
	waitArrived(t, sink, acked, ha)
	got = sink.counts()
	for _, s := range acked {
		if got[s] != 1 {
			t.Errorf("%s arrived %d times", s, got[s])
		}
	}
	if out, _ := cli(t, cfgB, "track", "--json", "--sender", "a@example.org"); strings.Contains(out, `"event": "takeover"`) {
		t.Errorf("hub-b took a held message over:\n%s", out)
	}
}

// A restore of a shadow server brings back copies whose discards it had
// already applied: hub-b, restored from a backup holding hub-a's copies
// of messages hub-a has delivered since, asks hub-a about every restored
// copy at once (XQUERYHELD, whatever its age) and drops them, so a
// failure of hub-a afterwards has nothing to take over. Otherwise they
// stayed as healthy copies for an hour, and the next takeover delivered
// each of those messages a second time.
func TestRestoredShadowCopiesAreReconciled(t *testing.T) {
	a, b, sinkAddr, cfgA, _, cfgB := receiptOrg(t, "prefer-remote")
	hb := startUmbra(t, cfgB, b)
	ha := startUmbra(t, cfgA, a) // the sink is down: hub-a keeps the mail
	acked := sendAll(t, ha, a, "rst", 3, 1)
	p := &shadowPair{}
	waitCond(t, "hub-b to hold the copies for hub-a", 30e9, func() bool { s, _ := p.held(t, cfgB, "hub-a"); return s == 3 })
	backup := filepath.Join(t.TempDir(), "hub-b.backup")
	if out, code := cli(t, cfgB, "db", "backup", backup); code != 0 {
		t.Fatalf("db backup: exit %d\n%s", code, out)
	}
	sink := startRecorder(t, sinkAddr)
	waitArrived(t, sink, acked, ha)
	waitCond(t, "hub-b to drop the copies of the delivered messages", 30e9, func() bool {
		s, pend := p.held(t, cfgB, "hub-a")
		return s == 0 && pend == 0
	})
	hb.kill()
	if out, code := cli(t, cfgB, "db", "restore", backup); code != 0 {
		t.Fatalf("db restore: exit %d\n%s", code, out)
	}
	hb = startUmbra(t, cfgB, b)
	waitCond(t, "restored hub-b to drop the restored copies hub-a is done with", 30e9, func() bool {
		s, pend := p.held(t, cfgB, "hub-a")
		return s == 0 && pend == 0
	})
	for s, n := range sink.counts() {
		if n != 1 {
			t.Errorf("%s arrived %d times", s, n)
		}
	}
}

// A suspension of a shadow queue would park the copies a takeover hands
// over (the only copy of that mail then) with nothing said: it is refused
// (exit 1, naming what to do instead), as message suspend of a copy is.
// Retry, resume and redirect act on taken-over copies and stay allowed
// (TestCLIQueueActionOnPoisonRefused).
func TestShadowQueueSuspendRefused(t *testing.T) {
	_, b, _, _, _, cfgB := receiptOrg(t, "prefer-remote")
	startUmbra(t, cfgB, b)
	code, stderr := cliErr(t, cfgB, "queue", "suspend", "shadow:hub-a")
	if code != 1 || !strings.Contains(stderr, "message suspend") {
		t.Fatalf("queue suspend shadow:hub-a: exit %d, %q; want 1 naming message suspend", code, stderr)
	}
	if out, _ := cli(t, cfgB, "queue", "list", "--json"); strings.Contains(out, "suspended") {
		t.Fatalf("a suspension was stored:\n%s", out)
	}
}

// A primary's row in queue destinations follows the primary: after hub-a
// was killed (its heartbeats failing in a row: taken over), came back and
// hub-b holds nothing of it any more, hub-b lists no failing shadow:hub-a
// row — no heartbeat will ever update one, and it would say that a
// healthy server is failing.
func TestShadowDestinationRowFollowsPrimary(t *testing.T) {
	t.Parallel()
	a, b, sinkAddr, cfgA, _, cfgB := receiptOrg(t, "prefer-remote")
	hb := startUmbra(t, cfgB, b)
	ha := startUmbra(t, cfgA, a) // the sink is down: hub-a keeps the mail
	acked := sendAll(t, ha, a, "row", 2, 1)
	p := &shadowPair{}
	waitCond(t, "hub-b to hold the copies for hub-a", 30e9, func() bool { s, _ := p.held(t, cfgB, "hub-a"); return s == 2 })
	ha.kill()
	failing := func() (string, bool) {
		out, _ := cli(t, cfgB, "queue", "destinations", "--json")
		var ds []struct {
			Name     string
			Failures int `json:"failures_in_a_row"`
		}
		json.Unmarshal([]byte(out), &ds)
		for _, d := range ds {
			if strings.HasSuffix(d.Name, ":hub-a") && d.Failures > 0 {
				return out, true
			}
		}
		return out, false
	}
	waitCond(t, "hub-b's heartbeats to hub-a to fail", 30e9, func() bool { _, f := failing(); return f })
	sink := startRecorder(t, sinkAddr)
	waitArrived(t, sink, acked, hb) // taken over and delivered by hub-b
	waitCond(t, "hub-b to hold nothing of hub-a's", 30e9, func() bool {
		s, pend := p.held(t, cfgB, "hub-a")
		return s == 0 && pend == 0
	})
	ha = startUmbra(t, cfgA, a)
	// hub-a is back and takes hub-b's copies on receipt.
	if ok, err := send(b, "row-back"); !ok {
		t.Fatalf("hub-b refused a message: %v", err)
	}
	waitArrived(t, sink, []string{"row-back"}, hb)
	// A watch session that failed while hub-a was down shows its
	// failures while it runs (rt27 F8); it ends at its next try, a
	// second later, finding nothing of hub-a's here, and its row goes.
	deadline := time.Now().Add(10 * time.Second)
	for {
		out, f := failing()
		if !f {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("hub-b lists hub-a as failing while it holds nothing of it and hub-a is up:\n%s", out)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
