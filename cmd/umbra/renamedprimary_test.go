package main

import (
	"os"
	"strings"
	"testing"
	"time"
)

// sites48 F1 (SR-3, SR-4, SR-7): a primary renamed in the shared
// topology while its own reload is refused. hub-a relays to site b
// (hub-b; hub-c, its other server, down) and keeps the relay copies for
// hub-b; the sink is down. The topology renames hub-b hub-b2 (same
// address) and both get SIGHUP: hub-b refuses its reload and runs on as
// hub-b, hub-a takes the file. A relay to "hub-b2" reaches hub-b, which
// states its own name, hub-b, in its XSHADOW reply: hub-a made the copy
// under hub-b2 all the same, hub-b's discards (owed to hub-a, fetched by
// whichever of hub-a's sessions to that process asked first, under
// either name) missed some of them, and at hub-b's kill -9 hub-a took
// them over and delivered them a second time. A primary stating another
// name than the topology's gets no copy: the relay goes to the hop's
// next server (hub-c, once it runs), and every message arrives once,
// also after hub-b's kill -9 and its failed heartbeats.
func TestRenamedPrimaryStatingItsOldNameGetsNoCopy(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	const ip = "127.0.0.148"
	a, b, c := addrInRange(t, ip, 7450, 30), addrInRange(t, ip, 7480, 30), addrInRange(t, ip, 7510, 30)
	sinkAddr := addrInRange(t, ip, 7540, 30) // started late: nothing listens until then
	topoPath := hubCInSiteBTopology(t, dir, a, b, c, sinkAddr, "hub-b", "hub-c")
	cfgA, _ := orgHub(t, dir, "hub-a", a, topoPath, "0s", "")
	cfgB, _ := orgHub(t, dir, "hub-b", b, topoPath, "0s", "")
	cfgC, _ := orgHub(t, dir, "hub-c", c, topoPath, "0s", "")
	hb := startUmbra(t, cfgB, b)
	hb.dumpLogIfFailed()
	ha := startUmbra(t, cfgA, a)
	ha.dumpLogIfFailed()
	p := &shadowPair{}

	acked := sendMany(a, "before", 2, 1, nil)
	waitCond(t, "hub-a to hold the first copies for hub-b", 30*time.Second, func() bool { s, _ := p.held(t, cfgA, "hub-b"); return s == 2 })

	renameInFile(t, topoPath, "hub-b,", "hub-b2,") // the server's entry and the connector's source
	if err := ha.hup(); err != nil {
		t.Fatal(err)
	}
	if err := hb.hup(); err != nil {
		t.Fatal(err)
	}
	waitCond(t, "hub-a to take the renamed topology", 15*time.Second, func() bool {
		b, _ := os.ReadFile(ha.log)
		return strings.Contains(string(b), "configuration reloaded")
	})
	waitCond(t, "hub-b to refuse it", 15*time.Second, func() bool {
		b, _ := os.ReadFile(hb.log)
		return strings.Contains(string(b), "reload failed")
	})

	acked = append(acked, sendMany(a, "after", 3, 1, nil)...)
	if len(acked) != 5 {
		t.Fatalf("%d of 5 acknowledged", len(acked))
	}
	// Each relay to hub-b2 either made its copy (before) or was turned
	// away for the name hub-b states (now): wait for either, then judge.
	waitCond(t, "hub-a to relay to hub-b2 or turn it away", 30*time.Second, func() bool {
		s, _ := p.held(t, cfgA, "hub-b2")
		return s > 0 || logCount(ha, renamedPrimarySkipped) >= 3
	})
	if s, _ := p.held(t, cfgA, "hub-b2"); s != 0 {
		t.Errorf("hub-a holds %d copies under hub-b2 of a primary stating the name hub-b: its discards miss them", s)
	}

	hc := startUmbra(t, cfgC, c)
	hc.dumpLogIfFailed()
	sink := startRecorder(t, sinkAddr)
	waitArrived(t, sink, acked, ha)
	waitCond(t, "hub-a to hold no copy but hub-c's", 30*time.Second, func() bool {
		s1, w1 := p.held(t, cfgA, "hub-b")
		s2, w2 := p.held(t, cfgA, "hub-b2")
		s3, w3 := p.held(t, cfgA, "hub-c")
		return s1 == 0 && w1 == 0 && s2 == 0 && w2 == 0 && s3 == 0 && w3 == 0 || s2 > 0
	})
	hb.kill()
	// hub-b's heartbeats fail (1 s timeout, 3 retries): a copy left
	// under either name is taken over within that, and delivered.
	waitCond(t, "hub-a to hold nothing of hub-b's under either name", 60*time.Second, func() bool {
		s1, w1 := p.held(t, cfgA, "hub-b")
		s2, w2 := p.held(t, cfgA, "hub-b2")
		return s1 == 0 && w1 == 0 && s2 == 0 && w2 == 0
	})
	time.Sleep(3 * time.Second)
	for s, n := range sink.counts() {
		if n != 1 {
			t.Errorf("%s arrived %d times", s, n)
		}
	}
}

// renamedPrimarySkipped is in the line hub-a logs when it turns a relay
// away from a next hop server stating another name than the topology's.
const renamedPrimarySkipped = "states another name than the topology's"
