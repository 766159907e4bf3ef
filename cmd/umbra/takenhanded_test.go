package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// rt26a (SR-6, SR-7, SR-14): site b has hub-b and hub-c, both delivering
// mailbox database DB1 over LMTP; hub-a (site a) keeps hub-b's copies on
// receipt. The LMTP server is down; hub-b is stopped (SIGSTOP) and hub-a
// takes its copy over and hands it to hub-c in a shadow session (hub-a
// keeps its copy until hub-c's discard). The LMTP server comes back:
// hub-c delivers the copy and discards hub-a's. The commit that applies
// that discard notes the recipient, under hub-b's database id, as
// finished beyond hub-a; hub-b runs on, asks hub-a (XQUERYTAKENDONE)
// before its next attempt, and does not deliver its original again: the
// mailbox gets the message once, without a DSN.
func TestTakenCopyHandedToAnotherHubNotDeliveredAgain(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	a, b, c := freeAddr(t, "127.0.0.1"), freeAddr(t, "127.0.0.1"), freeAddr(t, "127.0.0.1")
	lmtpAddr := reserveAddr(t, "127.0.0.1")
	topo := fmt.Sprintf(`sites: [{name: a}, {name: b}]
site_links: [{name: a-b, sites: [a, b], cost: 10}]
servers:
  - {name: hub-a, role: hub, site: a, address: %q, source_addresses: [127.0.0.1]}
  - {name: hub-b, role: hub, site: b, address: %q, source_addresses: [127.0.0.1]}
  - {name: hub-c, role: hub, site: b, address: %q, source_addresses: [127.0.0.1]}
  - {name: mbx1, role: mailbox, site: b, address: %q}
mailbox_databases:
  - {name: DB1, server: mbx1}
recipients:
  - {match: example.test, database: DB1}
`, a, b, c, lmtpAddr)
	topoPath := filepath.Join(dir, "topology.yaml")
	if err := os.WriteFile(topoPath, []byte(topo), 0o600); err != nil {
		t.Fatal(err)
	}
	domains := "accepted_domains: [{domain: example.test, type: authoritative, recipient_validation: off}]\n"
	cfgA, _ := orgHub(t, dir, "hub-a", a, topoPath, "0s", domains)
	cfgB, _ := orgHub(t, dir, "hub-b", b, topoPath, shadowOnReceipt("prefer-remote", false), domains)
	cfgC, _ := orgHub(t, dir, "hub-c", c, topoPath, "0s", domains)
	ha := startUmbra(t, cfgA, a)
	hb := startUmbra(t, cfgB, b)
	hc := startUmbra(t, cfgC, c)
	ha.dumpLogIfFailed()
	hb.dumpLogIfFailed()
	hc.dumpLogIfFailed()
	p := &shadowPair{}
	if reply := rawSend(t, b, "s@example.org", []string{"bob@example.test"}, "Subject: handed on\r\n\r\nhello\r\n"); !strings.HasPrefix(reply, "250") ||
		!strings.Contains(reply, "shadow copy on hub-a") {
		t.Fatalf("reply %q: want a 250 naming the shadow copy on hub-a", reply)
	}
	waitCond(t, "hub-a to hold the copy for hub-b", 30*time.Second, func() bool { s, _ := p.held(t, cfgA, "hub-b"); return s == 1 })
	waitCond(t, "hub-b's first attempt to defer", 30*time.Second, func() bool {
		out, _ := cli(t, cfgB, "track", "--json", "--event", "defer")
		return strings.Contains(out, `"event": "defer"`)
	})
	if err := hb.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	stopped := true
	defer func() {
		if stopped {
			hb.cmd.Process.Signal(syscall.SIGCONT)
		}
	}()
	waitCond(t, "hub-a to take the copy over", 60*time.Second, func() bool {
		out, _ := cli(t, cfgA, "track", "--json", "--event", "takeover")
		return strings.Contains(out, `"event": "takeover"`)
	})
	waitCond(t, "hub-a to hand the copy to hub-c and keep it for hub-c", 60*time.Second, func() bool { s, _ := p.held(t, cfgA, "hub-c"); return s == 1 })
	mbx := startLMTPSink(t, lmtpAddr)
	waitCond(t, "hub-c to deliver the copy", 60*time.Second, func() bool { return mbx.count("bob@example.test") == 1 })
	waitCond(t, "hub-a's queue to empty (hub-c's discard applied)", 60*time.Second, func() bool { return len(p.queued(t, cfgA)) == 0 })
	if err := hb.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	stopped = false
	waitCond(t, "hub-b's queue to empty", 60*time.Second, func() bool {
		n := 0
		for _, c := range p.queued(t, cfgB) {
			n += c
		}
		return n == 0
	})
	time.Sleep(2 * time.Second) // a second copy on its way would land now
	if n := mbx.count("bob@example.test"); n != 1 {
		t.Fatalf("the mailbox got %d copies for bob@example.test, want 1", n)
	}
	if out, _ := cli(t, cfgB, "track", "--json", "--event", "finished-elsewhere"); !strings.Contains(out, "finished by hub-a") {
		t.Errorf("hub-b's tracking log has no finished-elsewhere naming hub-a:\n%s", out)
	}
	if out, _ := cli(t, cfgB, "track", "--json", "--event", "dsn"); strings.Contains(out, `"event": "dsn"`) {
		t.Errorf("hub-b sent a DSN:\n%s", out)
	}
}
