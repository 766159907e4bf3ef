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

// rt20a F1 (SR-3, SR-17, README "Unconfirmed copies", "What survives
// which failure"): hub-a copies on receipt to hub-b (the nearest other
// site) on a kept session; hub-b stops (SIGSTOP) with the next push in
// its socket. Past the push's bound hub-a closes that session and makes
// the copy on hub-c (the next site); the sender's 250 names hub-c. hub-a
// is then lost (kill -9, never back: its disk, and the discard it owes
// hub-b, gone) before hub-b runs again (SIGCONT) and reads the push hub-a
// gave up on — after hub-a's close. hub-b must not keep that copy: hub-b
// and hub-c each take over what they hold, and the sink gets each
// message once.
func TestPushGivenUpOnIsNotKeptByTheStoppedHolder(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	a, b, c := freeAddr(t, "127.0.0.1"), freeAddr(t, "127.0.0.2"), freeAddr(t, "127.0.0.3")
	sink := reserveAddr(t, "127.0.0.1")
	topo := fmt.Sprintf(`sites: [{name: a}, {name: b}, {name: c}]
site_links:
  - {name: a-b, sites: [a, b], cost: 10}
  - {name: a-c, sites: [a, c], cost: 20}
  - {name: b-c, sites: [b, c], cost: 20}
servers:
  - {name: hub-a, role: hub, site: a, address: %q, source_addresses: [127.0.0.1]}
  - {name: hub-b, role: hub, site: b, address: %q, source_addresses: [127.0.0.1]}
  - {name: hub-c, role: hub, site: c, address: %q, source_addresses: [127.0.0.1]}
send_connectors:
  - {name: out, address_spaces: [{domain: "*", cost: 1}], source_servers: [hub-a, hub-b, hub-c], smart_hosts: [%q]}
`, a, b, c, sink)
	topoPath := filepath.Join(dir, "topology.yaml")
	if err := os.WriteFile(topoPath, []byte(topo), 0o600); err != nil {
		t.Fatal(err)
	}
	cfgA, _ := orgHub(t, dir, "hub-a", a, topoPath, shadowOnReceipt("prefer-remote", false), "")
	cfgB, _ := orgHub(t, dir, "hub-b", b, topoPath, "0s", "")
	cfgC, _ := orgHub(t, dir, "hub-c", c, topoPath, "0s", "")
	hb := startUmbra(t, cfgB, b)
	hc := startUmbra(t, cfgC, c)
	ha := startUmbra(t, cfgA, a)
	ha.dumpLogIfFailed()
	hb.dumpLogIfFailed()
	hc.dumpLogIfFailed()
	// The first copy opens the session to hub-b that the next one uses.
	if reply := rawSend(t, a, "a@example.org", []string{"x@remote.example"}, "Subject: first\r\n\r\nhello"); !strings.Contains(reply, "shadow copy on hub-b") {
		t.Fatalf("first reply %q: want a copy on hub-b", reply)
	}
	if err := hb.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	stopped := true
	defer func() {
		if stopped {
			hb.cmd.Process.Signal(syscall.SIGCONT)
		}
	}()
	start := time.Now()
	reply := rawSend(t, a, "a@example.org", []string{"x@remote.example"}, "Subject: second\r\n\r\nhello")
	t.Logf("second reply after %v: %q", time.Since(start).Round(100*time.Millisecond), reply)
	if !strings.HasPrefix(reply, "250") || !strings.Contains(reply, "shadow copy on hub-c") {
		t.Fatalf("second reply %q with hub-b stopped: want the copy on hub-c", reply)
	}
	// rt20a F3: hub-a names both servers: hub-c holds the copy, hub-b may
	// (its discard owed, not fetched: hub-b is stopped).
	id := strings.Fields(strings.SplitN(reply, "queued as ", 2)[1])[0]
	id = strings.TrimSuffix(id, ",")
	if out, _ := cli(t, cfgA, "message", "show", id); !strings.Contains(out, "copy:       on hub-c; unconfirmed push to hub-b (discard owed)") {
		t.Errorf("message show %s:\n%s\nwant the copy on hub-c and the unconfirmed push to hub-b named", id, out)
	}
	if out, _ := cli(t, cfgA, "message", "show", "--json", id); !strings.Contains(out, `"unconfirmed_copies":[{"server":"hub-b","discard_owed":true}]`) && !strings.Contains(out, `"server": "hub-b"`) {
		t.Errorf("message show --json %s:\n%s\nwant unconfirmed_copies naming hub-b", id, out)
	}
	// hub-a is lost for good before hub-b runs again: the discard it owes
	// hub-b for the unconfirmed push is lost with it.
	ha.kill()
	if err := hb.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	stopped = false
	waitLogCount(t, hb, "shadow copies withdrawn", 1)
	rec := startRecorder(t, sink)
	waitArrived(t, rec, []string{"first", "second"}, hc)
	time.Sleep(5 * time.Second) // a second holder's takeover would deliver by now (heartbeats 1 s × 3)
	for s, k := range rec.counts() {
		if k != 1 {
			t.Errorf("%s arrived %d times; want once", s, k)
		}
	}
}
