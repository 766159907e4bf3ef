package main

import (
	"os"
	"strings"
	"testing"
	"time"
)

// SR-6, SR-11 (rt27a F1): hub-c runs a copy of hub-b's data dir under
// its own name, so it presents hub-b's own transport database id: each
// refuses the other's shadow sessions. hub-a makes copies on receipt on
// hub-b and is killed -9 while its way out (hub-c, the only source of
// the connector) is down; hub-b takes the copies over and relays them on
// — to hub-c, which refuses hub-b's XSHADOW (hub-b presents hub-c's own
// id). Before, the taken-over copies went to hub-c as plain relays (no
// shadow copy, no note for hub-a), hub-c delivered them and hub-a, back
// with its database, delivered its originals: each message twice. A
// transport server that refuses a taken-over copy's shadow session is
// refused in turn: server:refused:hub-c in queue destinations, nothing
// relayed to it while the refusal stands.
func TestTakenOverCopyNotRelayedToServerRefusingShadow(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	a, b, c := freeAddr(t, "127.0.0.1"), freeAddr(t, "127.0.0.1"), freeAddr(t, "127.0.0.1")
	sinkAddr := reserveAddr(t, "127.0.0.1")
	topoPath := exitSiteTopology(t, dir, a, b, c, sinkAddr)
	cfgA, _ := orgHub(t, dir, "hub-a", a, topoPath, shadowOnReceipt("remote-only", false), "")
	cfgB, dataB := orgHub(t, dir, "hub-b", b, topoPath, "0s", "")
	cfgC, dataC := orgHub(t, dir, "hub-c", c, topoPath, "0s", "")

	// hub-b makes its database; hub-c's data dir is a copy of it.
	hb := startUmbra(t, cfgB, b)
	hb.kill()
	os.RemoveAll(dataC)
	copyDataDir(t, dataB, dataC)
	hb = startUmbra(t, cfgB, b)
	hb.dumpLogIfFailed()
	ha := startUmbra(t, cfgA, a)
	p := &shadowPair{}
	const n = 3
	sendCopiesOnB(t, p, a, cfgB, "clone", n)
	ha.kill()
	waitCond(t, "hub-b to take the copies over", 60*time.Second, func() bool { s, _ := p.held(t, cfgB, "hub-a"); return s == 0 })

	sink := startRecorder(t, sinkAddr)
	hc := startUmbra(t, cfgC, c)
	hc.dumpLogIfFailed()
	var dests string
	waitCond(t, "hub-b to mark hub-c refused, or a copy to reach the sink", 60*time.Second, func() bool {
		dests, _ = cli(t, cfgB, "queue", "destinations")
		return strings.Contains(dests, "server:refused:hub-c") || len(sink.counts()) > 0
	})
	time.Sleep(3 * time.Second) // several retry intervals: a relay would go now
	if !strings.Contains(dests, "server:refused:hub-c") {
		t.Errorf("hub-b's queue destinations has no server:refused:hub-c row:\n%s", dests)
	}
	qc, total := p.queued(t, cfgC), 0
	for _, k := range qc {
		total += k
	}
	if total != 0 || len(sink.counts()) != 0 {
		t.Errorf("hub-c (its shadow sessions refused at hub-b and refusing hub-b's) got taken-over copies: queued %v, delivered %v; want none", qc, sink.counts())
	}
	if _, pending := p.held(t, cfgB, "hub-a"); pending != n {
		t.Errorf("hub-b holds %d taken-over copies waiting; want %d", pending, n)
	}
}
