package main

import (
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"umbra/internal/testsupport"
)

// fullShadowPeer is a transport server whose disk is full: it takes
// shadow sessions (XSHADOW, verbs version 3) and answers 452 4.3.1 to
// every copy's data. It counts the copies it refused.
func fullShadowPeer(t *testing.T, ip string) (string, *atomic.Int32) {
	t.Helper()
	h := testsupport.StartHub(t, ip+":0", testsupport.HubScript{DataReply: "452 4.3.1 Insufficient system storage, try again later"})
	return h.Addr(), &h.Copies
}

// rt30 F2 with real daemons: hub-a copies on receipt, prefer-remote; the
// other site has hub-b (healthy) and hub-c, whose disk is full (452
// 4.3.1 to each copy, though it answers the session). Every message
// gets its copy on hub-b, in its own receipt — the one whose copy hub-c
// refused first included — and hub-c is not chosen again: none is
// accepted "no shadow copy" and none stays held by hub-a only.
func TestShadowOnReceiptFullPeerCopiesElsewhere(t *testing.T) {
	dir := t.TempDir()
	a, b, sink := freeAddr(t, "127.0.0.1"), freeAddr(t, "127.0.0.2"), reserveAddr(t, "127.0.0.1")
	c, refused := fullShadowPeer(t, "127.0.0.3")
	topoPath := hubCInSiteBTopology(t, dir, a, b, c, sink, "hub-a", "hub-b")
	cfgA, _ := orgHub(t, dir, "hub-a", a, topoPath, shadowOnReceipt("prefer-remote", false), "")
	cfgB, _ := orgHub(t, dir, "hub-b", b, topoPath, "0s", "")
	startUmbra(t, cfgB, b)
	ha := startUmbra(t, cfgA, a) // the sink is down: the messages wait at hub-a
	for i := range 4 {
		reply := rawSend(t, a, "a@example.org", []string{"b@remote.example"}, fmt.Sprintf("Subject: full-%d\r\n\r\nhello", i))
		if !strings.HasPrefix(reply, "250") || !strings.Contains(reply, "shadow copy on hub-b") {
			ha.dumpLog()
			t.Fatalf("message %d: reply %q; want its copy on hub-b (hub-c's disk is full)", i, reply)
		}
	}
	if n := refused.Load(); n != 1 {
		t.Errorf("hub-c was pushed %d copies, want 1 (the rotation's first, then it is tried last)", n)
	}
	if out, _ := cli(t, cfgA, "shadow", "single"); strings.Contains(out, "full-") || strings.Contains(out, "hub-c") {
		t.Errorf("messages held by hub-a only:\n%s", out)
	}
	if out, _ := cli(t, cfgA, "queue", "destinations"); !strings.Contains(out, "server:copies:hub-c") || !strings.Contains(out, "4.3.1") {
		t.Errorf("queue destinations does not show hub-c refusing copies:\n%s", out)
	}
}
