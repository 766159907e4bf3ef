package main

import (
	"strings"
	"testing"
)

// SR-17, avail40 with real daemons: ext.test is an internal relay
// domain whose mail leaves through hub-b alone (the send connector's
// only source server), and hub-b is down. hub-a took a message to
// x@ext.test (its directory lists the address) on a connector with
// shadow_on_receipt: prefer-remote; hub-c, the other server of site b,
// validates ext.test by a callout, whose next hop is hub-b. The copy's
// recipients are hub-a's, validated there: hub-c takes the copy — the
// sender's 250 names it, hub-a holds no message by itself only, hub-c
// holds the copy. Refused 451 4.3.0 by hub-c's callout, every message
// was held by hub-a only for as long as hub-b was down.
func TestSR17CopyOnReceiptTakenWhileHolderCannotValidate(t *testing.T) {
	t.Parallel()
	const ip = "127.0.0.121"
	dir := t.TempDir()
	a, b, c := addrInRange(t, ip, 7250, 30), addrInRange(t, ip, 7280, 30), addrInRange(t, ip, 7310, 30)
	sink := addrInRange(t, ip, 7340, 30) // nothing listens: hub-b never gets there anyway
	topoPath := hubCInSiteBTopology(t, dir, a, b, c, sink, "hub-b")
	domains := "accepted_domains:\n  - {domain: ext.test, type: internal_relay}\n"
	cfgA, _ := orgHub(t, dir, "hub-a", a, topoPath, shadowOnReceipt("prefer-remote", false), domains+"recipients: {addresses: [x@ext.test]}\n")
	cfgC, _ := orgHub(t, dir, "hub-c", c, topoPath, "0s", domains)
	hc := startUmbra(t, cfgC, c)
	hc.dumpLogIfFailed()
	ha := startUmbra(t, cfgA, a)
	ha.dumpLogIfFailed()
	for _, subj := range []string{"avail40-1", "avail40-2"} {
		reply := rawSend(t, a, "s@example.org", []string{"x@ext.test"}, "Subject: "+subj+"\r\n\r\nbody")
		if !strings.HasPrefix(reply, "250") || !strings.Contains(reply, "shadow copy on hub-c") {
			t.Fatalf("%s: reply %q; want its copy on hub-c (hub-b is down)", subj, reply)
		}
	}
	if out, _ := cli(t, cfgA, "shadow", "single"); strings.Contains(out, "avail40") || strings.Contains(out, "hub-c") {
		t.Errorf("messages held by hub-a only:\n%s", out)
	}
	p := &shadowPair{}
	if s, w := p.held(t, cfgC, "hub-a"); s != 2 || w != 0 {
		t.Errorf("hub-c holds %d copies of hub-a's (%d pending); want the 2, held", s, w)
	}
}
