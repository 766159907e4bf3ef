package main

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// departedLaneAddr is a free TCP address on 127.0.0.139 with a port in
// 9500-9999, the range these tests keep to.
func departedLaneAddr(t *testing.T) string {
	t.Helper()
	return laneAddrIn(t, "127.0.0.139", 9500, 10000)
}

// laneAddrIn is a free TCP address on ip with a port from lo up to hi
// (excluded), never one handed out before by this process.
func laneAddrIn(t *testing.T, ip string, lo, hi int) string {
	t.Helper()
	for port := lo; port < hi; port++ {
		addr := net.JoinHostPort(ip, strconv.Itoa(port))
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			continue
		}
		ln.Close()
		if departedPicked[addr] {
			continue
		}
		departedPicked[addr] = true
		return addr
	}
	t.Fatalf("no free port on %s from %d to %d", ip, lo, hi-1)
	return ""
}

var departedPicked = map[string]bool{}

// departed42 (SR-6, SR-7, SR-13; rt42-shadow F1): hub-a holds copies for
// hub-b and hub-c; a reload gives hub-a a topology that no longer lists
// hub-b (a server briefly missing from a topology during a rollout).
// hub-b is killed (-9): hub-a takes its copies over and hands them to
// hub-c, which delivers them once the sink accepts. hub-b starts again
// with its database and asks hub-a what became of them before its first
// delivery (XQUERYTAKENDONE): hub-a, which holds notes it owes hub-b,
// lets hub-b's shadow session in by the record of its copies (name,
// address), though its topology no longer names hub-b. Before, hub-a
// refused the session ("not a server of the organisation"), hub-b heard
// nothing and delivered its originals again: every message it held at
// the outside destination twice.
func TestSR6DepartedPrimaryStillToldWhatItsHolderFinished(t *testing.T) {
	dir := t.TempDir()
	const ip = "127.0.0.139"
	a, b, c, sinkAddr := departedLaneAddr(t), departedLaneAddr(t), departedLaneAddr(t), departedLaneAddr(t)
	topology := func(withB bool) string {
		servers := fmt.Sprintf("  - {name: hub-a, role: hub, site: a, address: %q, source_addresses: [%s]}\n", a, ip)
		sources := "hub-c"
		if withB {
			servers += fmt.Sprintf("  - {name: hub-b, role: hub, site: s, address: %q, source_addresses: [%s]}\n", b, ip)
			sources = "hub-b, hub-c"
		}
		servers += fmt.Sprintf("  - {name: hub-c, role: hub, site: s, address: %q, source_addresses: [%s]}\n", c, ip)
		return fmt.Sprintf(`sites:
  - {name: a}
  - {name: s}
site_links:
  - {name: a-s, sites: [a, s], cost: 10}
servers:
%ssend_connectors:
  - {name: out, address_spaces: [{domain: "*", cost: 1}], source_servers: [%s], smart_hosts: [%q]}
`, servers, sources, sinkAddr)
	}
	topoPath, topoA := filepath.Join(dir, "topology.yaml"), filepath.Join(dir, "topology-a.yaml")
	for _, p := range []string{topoPath, topoA} {
		if err := os.WriteFile(p, []byte(topology(true)), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cfgA, _ := orgHub(t, dir, "hub-a", a, topoA, "0s", "")
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
	subjects := sendMany(a, "departed", n, 1, nil)
	if len(subjects) != n {
		t.Fatalf("%d of %d messages acknowledged", len(subjects), n)
	}
	waitCond(t, "hub-a to hold the six copies, for hub-b and hub-c", 60*time.Second, func() bool {
		q := p.queued(t, cfgA)
		return q["shadow:hub-b"]+q["shadow:hub-c"] == n && q["shadow:hub-b"] > 0
	})
	heldB := p.queued(t, cfgA)["shadow:hub-b"]

	// A reload mid-rollout: hub-a's topology no longer lists hub-b.
	reloadDaemon(t, ha, func() {
		if err := os.WriteFile(topoA, []byte(topology(false)), 0o600); err != nil {
			t.Fatal(err)
		}
	})

	// hub-b crashes; hub-a takes its copies over and hands them to hub-c.
	hb.kill()
	waitCond(t, "hub-a to take hub-b's copies over and hold them for hub-c", 60*time.Second, func() bool {
		q := p.queued(t, cfgA)
		return q["shadow:hub-c"] == n && q["shadow:hub-b"] == 0
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

	// hub-b returns with its database: hub-a tells it what became of the
	// copies it took over.
	hb = startUmbra(t, cfgB, b)
	hb.dumpLogIfFailed()
	waitCond(t, "hub-b's delivery queues empty", 60*time.Second, func() bool {
		left := 0
		for q, k := range p.queued(t, cfgB) {
			if !strings.HasPrefix(q, "shadow:") {
				left += k
			}
		}
		return left == 0
	})
	time.Sleep(3 * time.Second) // several retry intervals: a second delivery would come now
	for _, s := range subjects {
		if k := sink.count("b@remote.example", s); k != 1 {
			t.Errorf("%s delivered %d times; want once (hub-b held %d of the copies)", s, k, heldB)
		}
	}
	if out, _ := cli(t, cfgB, "track", "--json", "--event", "finished-elsewhere"); !strings.Contains(out, "hub-a") {
		t.Errorf("hub-b's tracking log has no finished-elsewhere naming hub-a:\n%s", out)
	}
	if b, _ := os.ReadFile(ha.log); strings.Contains(string(b), "Server id is not a server of the organisation") {
		t.Errorf("hub-a refused hub-b's shadow session though it owes it notes of the copies it took over")
	}
}
