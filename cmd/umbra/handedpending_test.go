package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// handed38 (SR-6, SR-7, SR-14): hub-a relays six messages for an outside
// domain to site s, whose hubs hub-b and hub-c both send to the sink
// (which defers them): hub-a holds their copies, about half for each.
// hub-b is killed (-9); hub-a takes its copies over and hands them to
// hub-c in a shadow session (hub-a keeps them for hub-c), where they wait
// for the sink. hub-b starts again with its database and asks hub-a
// (XQUERYTAKENDONE … HELD BUSY) while hub-c still holds them pending:
// hub-a lists each such recipient as TAKEN, and hub-b marks its originals
// done without a DSN — before, it heard nothing of them and delivered its
// originals when the sink came back, as hub-c delivered the copies: the
// message at the outside destination twice. Now every message reaches
// the sink once, and hub-b sends no DSN.
func TestSR6HandedCopyPendingAtAnotherHubNotDeliveredByReturningPrimary(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	const ip = "127.0.0.126"
	a, b, c, sinkAddr := freeAddr(t, ip), freeAddr(t, ip), freeAddr(t, ip), freeAddr(t, ip)
	topo := fmt.Sprintf(`sites:
  - {name: a}
  - {name: s}
site_links:
  - {name: a-s, sites: [a, s], cost: 10}
servers:
  - {name: hub-a, role: hub, site: a, address: %q, source_addresses: [%s]}
  - {name: hub-b, role: hub, site: s, address: %q, source_addresses: [%s]}
  - {name: hub-c, role: hub, site: s, address: %q, source_addresses: [%s]}
send_connectors:
  - {name: out, address_spaces: [{domain: "*", cost: 1}], source_servers: [hub-b, hub-c], smart_hosts: [%q]}
`, a, ip, b, ip, c, ip, sinkAddr)
	topoPath := filepath.Join(dir, "topology.yaml")
	if err := os.WriteFile(topoPath, []byte(topo), 0o600); err != nil {
		t.Fatal(err)
	}
	cfgA, _ := orgHub(t, dir, "hub-a", a, topoPath, "0s", "")
	cfgB, _ := orgHub(t, dir, "hub-b", b, topoPath, "0s", "")
	cfgC, _ := orgHub(t, dir, "hub-c", c, topoPath, "0s", "")
	for _, cfg := range []string{cfgA, cfgB, cfgC} {
		editConfig(t, cfg, `metrics_listen: ""}`, `metrics_listen: "", source_address: `+ip+`}`)
	}
	sink := startRcptSink(t, sinkAddr, "b@remote.example") // defers every message
	hc := startUmbra(t, cfgC, c)
	hb := startUmbra(t, cfgB, b)
	ha := startUmbra(t, cfgA, a)
	ha.dumpLogIfFailed()
	hc.dumpLogIfFailed()
	p := &shadowPair{}
	const n = 6
	subjects := sendMany(a, "handedpending", n, 1, nil)
	if len(subjects) != n {
		t.Fatalf("%d of %d messages acknowledged", len(subjects), n)
	}
	waitCond(t, "hub-a to hold the six copies, for hub-b and hub-c", 60*time.Second, func() bool {
		q := p.queued(t, cfgA)
		return q["shadow:hub-b"]+q["shadow:hub-c"] == n && q["shadow:hub-b"] > 0
	})
	heldB := p.queued(t, cfgA)["shadow:hub-b"]

	// hub-b crashes; hub-a takes its copies over and hands them to
	// hub-c, which holds them pending (the sink defers).
	hb.kill()
	waitCond(t, "hub-a to take hub-b's copies over and hold them for hub-c", 60*time.Second, func() bool {
		q := p.queued(t, cfgA)
		return q["shadow:hub-c"] == n && q["shadow:hub-b"] == 0
	})
	if out, _ := cli(t, cfgA, "track", "--json", "--event", "takeover"); !strings.Contains(out, `"event": "takeover"`) {
		t.Fatalf("hub-a's tracking log has no takeover:\n%s", out)
	}

	// hub-b returns with its database while hub-c still holds the
	// copies: it leaves them to hub-c, its delivery queues empty.
	hb = startUmbra(t, cfgB, b)
	hb.dumpLogIfFailed()
	waitCond(t, "hub-b to leave the recipients handed to hub-c (its delivery queues empty while the sink still defers)", 30*time.Second, func() bool {
		left := 0
		for q, k := range p.queued(t, cfgB) {
			if !strings.HasPrefix(q, "shadow:") {
				left += k
			}
		}
		return left == 0
	})

	// The sink accepts: every message delivered once, by hub-c.
	sink.defOn.Store(false)
	waitCond(t, "every message delivered", 90*time.Second, func() bool {
		for _, s := range subjects {
			if sink.count("b@remote.example", s) == 0 {
				return false
			}
		}
		return true
	})
	waitCond(t, "hub-a to have no copy left, hub-c no message", 60*time.Second, func() bool {
		qa, left := p.queued(t, cfgA), 0
		for _, k := range p.queued(t, cfgC) {
			left += k
		}
		return qa["shadow:hub-c"] == 0 && qa["shadow:hub-b"] == 0 && left == 0
	})
	time.Sleep(3 * time.Second) // several retry intervals: a second delivery would come now
	for _, s := range subjects {
		if k := sink.count("b@remote.example", s); k != 1 {
			t.Errorf("%s delivered %d times; want once (hub-b held %d of the copies)", s, k, heldB)
		}
	}
	if out, _ := cli(t, cfgB, "track", "--json", "--event", "finished-elsewhere"); !strings.Contains(out, "taken over by hub-a") {
		t.Errorf("hub-b's tracking log has no finished-elsewhere naming hub-a:\n%s", out)
	}
	if out, _ := cli(t, cfgB, "track", "--json", "--event", "dsn"); strings.Contains(out, `"event": "dsn"`) {
		t.Errorf("hub-b sent a DSN:\n%s", out)
	}
}
