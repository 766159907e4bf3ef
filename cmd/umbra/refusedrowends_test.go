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

// shadowState is the STATE shadow list --json gives primary on cfg's
// daemon, "" when it is not listed, "?" when the listing failed.
func shadowState(t *testing.T, cfg, primary string) string {
	out, code := cli(t, cfg, "shadow", "list", "--json")
	var doc struct {
		Primaries []struct {
			Primary string `json:"primary"`
			State   string `json:"state"`
		} `json:"primaries"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &doc) != nil {
		var list []struct {
			Primary string `json:"primary"`
			State   string `json:"state"`
		}
		if code != 0 || json.Unmarshal([]byte(out), &list) != nil {
			return "?"
		}
		doc.Primaries = list
	}
	for _, p := range doc.Primaries {
		if p.Primary == primary {
			return p.State
		}
	}
	return ""
}

// SR-7, OPS-3 (rt28e F3): hub-c ran a copy of hub-b's data dir, so
// hub-a refused its contacts (queue destinations server:refused:hub-c,
// shadow list refused); back on its own data dir, a session of hub-c
// presenting its own id is let in at hub-a and the destination mark
// goes — and shadow list's refused state goes with it, not at hub-a's
// next heartbeat (300 s here) or relay to hub-c (a 10 min retry).
func TestSR7RefusedRowEndsWithTheDestinationMark(t *testing.T) {
	dir := t.TempDir()
	a, b, c := freeAddr(t, "127.0.0.1"), freeAddr(t, "127.0.0.1"), freeAddr(t, "127.0.0.1")
	sinkAddr := reserveAddr(t, "127.0.0.1") // nothing answers: hub-c keeps the mail
	sinkB := reserveAddr(t, "127.0.0.1")    // and hub-b its
	topo := fmt.Sprintf(`sites: [{name: a}, {name: b}, {name: s}]
site_links:
  - {name: a-b, sites: [a, b], cost: 10}
  - {name: b-s, sites: [b, s], cost: 10}
  - {name: a-s, sites: [a, s], cost: 10}
servers:
  - {name: hub-a, role: hub, site: a, address: %q, source_addresses: [127.0.0.1]}
  - {name: hub-b, role: hub, site: b, address: %q, source_addresses: [127.0.0.1]}
  - {name: hub-c, role: hub, site: s, address: %q, source_addresses: [127.0.0.1]}
send_connectors:
  - {name: out, address_spaces: [{domain: "*", cost: 1}], source_servers: [hub-c], smart_hosts: [%q]}
  - {name: outb, address_spaces: [{domain: "b.example", cost: 1}], source_servers: [hub-b], smart_hosts: [%q]}
`, a, b, c, sinkAddr, sinkB)
	topoPath := filepath.Join(dir, "topology.yaml")
	if err := os.WriteFile(topoPath, []byte(topo), 0o600); err != nil {
		t.Fatal(err)
	}
	cfgB, dataB := orgHub(t, dir, "hub-b", b, topoPath, "0s", "")
	cfgC, dataC := orgHub(t, dir, "hub-c", c, topoPath, "0s", "")
	// hub-a: heartbeats and retries far apart, so only the session of
	// hub-c's can end the refusal within the test.
	os.MkdirAll(filepath.Join(dir, "hub-a"), 0o700)
	cfgA := filepath.Join(dir, "hub-a", "umbra.yaml")
	os.WriteFile(cfgA, []byte(fmt.Sprintf(`server: {name: hub-a, data_dir: %s, metrics_listen: ""}
topology: %s
transport: {retry_schedule: [10m], shadow_heartbeat_timeout: 300s, shadow_heartbeat_retry_count: 3}
receive_connectors:
  - name: org
    bindings: [%q]
    remote_ranges: ["127.0.0.0/8"]
    externally_secured: true
    permissions: {anonymous: [submit, relay], servers: [submit, relay, accept-xshadow]}
    max_acknowledgement_delay: 0s
`, filepath.Join(dir, "hub-a", "data"), topoPath, a)), 0o600)

	hb := startUmbra(t, cfgB, b)
	hc := startUmbra(t, cfgC, c)
	ha := startUmbra(t, cfgA, a)
	ha.dumpLogIfFailed()
	p := &shadowPair{}
	// hub-a meets hub-b's database id as hub-b's: a relay to it.
	if r := rawSend(t, a, "a@example.org", []string{"z@b.example"}, "Subject: zero\r\n\r\nhello\r\n"); !strings.HasPrefix(r, "250") {
		t.Fatalf("reply %q", r)
	}
	waitCond(t, "hub-a to hold a shadow copy for hub-b", 30*time.Second, func() bool { s, _ := p.held(t, cfgA, "hub-b"); return s == 1 })
	hb.kill()
	if r := rawSend(t, a, "a@example.org", []string{"x@remote.example"}, "Subject: one\r\n\r\nhello\r\n"); !strings.HasPrefix(r, "250") {
		t.Fatalf("reply %q", r)
	}
	waitCond(t, "hub-a to hold a shadow copy for hub-c", 30*time.Second, func() bool { s, _ := p.held(t, cfgA, "hub-c"); return s == 1 })

	// hub-c on a copy of hub-b's data dir: hub-a's relay to it is refused here.
	hc.kill()
	own := dataC + ".own"
	os.Rename(dataC, own)
	copyDataDir(t, dataB, dataC)
	hc = startUmbra(t, cfgC, c)
	if r := rawSend(t, a, "a@example.org", []string{"y@remote.example"}, "Subject: two\r\n\r\nhello\r\n"); !strings.HasPrefix(r, "250") {
		t.Fatalf("reply %q", r)
	}
	waitCond(t, "hub-a to mark hub-c refused and list it refused", 30*time.Second, func() bool {
		d, _ := cli(t, cfgA, "queue", "destinations")
		return strings.Contains(d, "server:refused:hub-c") && shadowState(t, cfgA, "hub-c") == "refused"
	})

	// hub-c back on its own data dir.
	hc.kill()
	os.RemoveAll(dataC)
	os.Rename(own, dataC)
	hc = startUmbra(t, cfgC, c)
	hc.dumpLogIfFailed()
	waitCond(t, "hub-a to drop server:refused:hub-c", 60*time.Second, func() bool {
		d, code := cli(t, cfgA, "queue", "destinations")
		return code == 0 && !strings.Contains(d, "server:refused:hub-c")
	})
	if st := shadowState(t, cfgA, "hub-c"); st == "refused" || st == "?" {
		out, _ := cli(t, cfgA, "shadow", "list")
		t.Fatalf("hub-a's shadow list gives hub-c %q once server:refused:hub-c is gone, want the refusal ended with it:\n%s", st, out)
	}
}
