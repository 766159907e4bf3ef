package main

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Test organisations of two sites: hub-a (site a) and hub-b (site b),
// linked at cost 10, each a real umbra written by orgHub.

// twoSiteTopology writes dir/topology.yaml: hub-a at a and hub-b at b,
// both sending from 127.0.0.1, and the send connector "out", which sends
// everything to smartHost from the servers named in sources. It returns
// the file's path.
func twoSiteTopology(t testing.TB, dir, a, b, smartHost string, sources ...string) string {
	t.Helper()
	topo := fmt.Sprintf(`sites:
  - {name: a}
  - {name: b}
site_links:
  - {name: a-b, sites: [a, b], cost: 10}
servers:
  - {name: hub-a, role: hub, site: a, address: %q, source_addresses: [127.0.0.1]}
  - {name: hub-b, role: hub, site: b, address: %q, source_addresses: [127.0.0.1]}
send_connectors:
  - {name: out, address_spaces: [{domain: "*", cost: 1}], source_servers: [%s], smart_hosts: [%q]}
`, a, b, strings.Join(sources, ", "), smartHost)
	path := filepath.Join(dir, "topology.yaml")
	if err := os.WriteFile(path, []byte(topo), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// hubCInSiteBTopology writes dir/topology.yaml: twoSiteTopology's with
// a third server, hub-c at c, in site b beside hub-b. It returns the
// file's path.
func hubCInSiteBTopology(t testing.TB, dir, a, b, c, smartHost string, sources ...string) string {
	t.Helper()
	topo := fmt.Sprintf(`sites:
  - {name: a}
  - {name: b}
site_links:
  - {name: a-b, sites: [a, b], cost: 10}
servers:
  - {name: hub-a, role: hub, site: a, address: %q, source_addresses: [127.0.0.1]}
  - {name: hub-b, role: hub, site: b, address: %q, source_addresses: [127.0.0.1]}
  - {name: hub-c, role: hub, site: b, address: %q, source_addresses: [127.0.0.1]}
send_connectors:
  - {name: out, address_spaces: [{domain: "*", cost: 1}], source_servers: [%s], smart_hosts: [%q]}
`, a, b, c, strings.Join(sources, ", "), smartHost)
	path := filepath.Join(dir, "topology.yaml")
	if err := os.WriteFile(path, []byte(topo), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// threeSiteTopology writes dir/topology.yaml: twoSiteTopology's with
// hub-c at c in a third site, c, linked to a at cost 100. It returns the
// file's path.
func threeSiteTopology(t testing.TB, dir, a, b, c, smartHost string, sources ...string) string {
	t.Helper()
	topo := fmt.Sprintf(`sites:
  - {name: a}
  - {name: b}
  - {name: c}
site_links:
  - {name: a-b, sites: [a, b], cost: 10}
  - {name: a-c, sites: [a, c], cost: 100}
servers:
  - {name: hub-a, role: hub, site: a, address: %q, source_addresses: [127.0.0.1]}
  - {name: hub-b, role: hub, site: b, address: %q, source_addresses: [127.0.0.1]}
  - {name: hub-c, role: hub, site: c, address: %q, source_addresses: [127.0.0.1]}
send_connectors:
  - {name: out, address_spaces: [{domain: "*", cost: 1}], source_servers: [%s], smart_hosts: [%q]}
`, a, b, c, strings.Join(sources, ", "), smartHost)
	path := filepath.Join(dir, "topology.yaml")
	if err := os.WriteFile(path, []byte(topo), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// exitSiteTopology writes dir/topology.yaml: hub-a (site a) and hub-b
// (site b) at a and b, and hub-c at c in a site s of its own, each pair
// of sites linked at cost 10; hub-c is the only source of the send
// connector "out", to smartHost. It returns the file's path.
func exitSiteTopology(t testing.TB, dir, a, b, c, smartHost string) string {
	t.Helper()
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
`, a, b, c, smartHost)
	path := filepath.Join(dir, "topology.yaml")
	if err := os.WriteFile(path, []byte(topo), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// sendCopiesOnB sends n messages from a@example.org to x@remote.example
// through hub-a at a, with the subjects prefix-0 …, fails the test
// unless each 250 names its shadow copy on hub-b, and waits (30 s at
// most) until hub-b (its file cfgB) holds the n copies for hub-a. It
// returns the subjects.
func sendCopiesOnB(t *testing.T, p *shadowPair, a, cfgB, prefix string, n int) []string {
	t.Helper()
	var subjects []string
	for i := 0; i < n; i++ {
		s := fmt.Sprintf("%s-%d", prefix, i)
		reply := rawSend(t, a, "a@example.org", []string{"x@remote.example"}, "Subject: "+s+"\r\n\r\nhello\r\n")
		if !strings.HasPrefix(reply, "250") || !strings.Contains(reply, "shadow copy on hub-b") {
			t.Fatalf("reply %q: want a 250 naming the shadow copy on hub-b", reply)
		}
		subjects = append(subjects, s)
	}
	waitCond(t, "hub-b to hold the copies for hub-a", 30*time.Second, func() bool { s, _ := p.held(t, cfgB, "hub-a"); return s == n })
	return subjects
}

// shadowOnReceipt is the ackDelay argument of orgHub for a connector
// that makes shadow copies on receipt with the preference pref and
// refuses (or not) the message when no copy could be made; delayed
// acknowledgement stays configured (30 s) to show that it does not
// apply.
func shadowOnReceipt(pref string, reject bool) string {
	return fmt.Sprintf("30s\n    shadow_on_receipt: %s\n    reject_on_shadow_failure: %v", pref, reject)
}

// receiptHubs is hub-a and hub-b of twoSiteTopology, both of which may
// send to the sink through connector "out"; hub-a's connector makes
// shadow copies on receipt (shadowOnReceipt). The sink's address is
// kept (reserveAddr) until the test starts it, often late (after a
// kill).
type receiptHubs struct {
	dir                      string
	a, b, sink               string // listen addresses
	cfgA, dataA, cfgB, dataB string
}

func newReceiptHubs(t testing.TB, pref string, reject bool) *receiptHubs {
	t.Helper()
	o := &receiptHubs{dir: t.TempDir(), a: freeAddr(t, "127.0.0.1"), b: freeAddr(t, "127.0.0.2"), sink: reserveAddr(t, "127.0.0.1")}
	topoPath := twoSiteTopology(t, o.dir, o.a, o.b, o.sink, "hub-a", "hub-b")
	o.cfgA, o.dataA = orgHub(t, o.dir, "hub-a", o.a, topoPath, shadowOnReceipt(pref, reject), "")
	o.cfgB, o.dataB = orgHub(t, o.dir, "hub-b", o.b, topoPath, "0s", "")
	return o
}

// mailboxOrg is hub-a (site a), which relays mail for example.test to
// hub-b (site b, the source of the topology's connector "to-b"), which
// keeps it in its maildir and accepts any local part. It returns the
// directory of both and their configuration files.
func mailboxOrg(t testing.TB) (dir, a, b, cfgA, cfgB string) {
	t.Helper()
	dir = t.TempDir()
	a, b = freeAddr(t, "127.0.0.1"), freeAddr(t, "127.0.0.2")
	topo := fmt.Sprintf(`sites: [{name: a}, {name: b}]
site_links: [{name: a-b, sites: [a, b], cost: 10}]
servers:
  - {name: hub-a, role: hub, site: a, address: %q, source_addresses: [127.0.0.1]}
  - {name: hub-b, role: hub, site: b, address: %q, source_addresses: [127.0.0.1]}
send_connectors:
  - {name: to-b, address_spaces: [{domain: example.test, cost: 1}], source_servers: [hub-b]}
`, a, b)
	topoPath := filepath.Join(dir, "topology.yaml")
	if err := os.WriteFile(topoPath, []byte(topo), 0o600); err != nil {
		t.Fatal(err)
	}
	cfgA, _ = orgHub(t, dir, "hub-a", a, topoPath, "0s",
		"accepted_domains: [{domain: example.test, type: internal_relay}]\n")
	cfgB, _ = orgHub(t, dir, "hub-b", b, topoPath, "0s",
		"accepted_domains: [{domain: example.test, type: authoritative, recipient_validation: off}]\nmailbox: {maildir: maildir}\n")
	return dir, a, b, cfgA, cfgB
}

// bobMailbox is the folder of new mail of bob@example.test at hub-b of
// mailboxOrg(dir).
func bobMailbox(dir string) string {
	return filepath.Join(dir, "hub-b", "data", "maildir", "example.test", "bob", "new")
}

// waitMailboxOrgDone waits, up to d, until bob's mailbox at hub-b of
// mailboxOrg(dir) holds a number of messages full accepts and neither
// hub has any message queued; else it fails the test with both hubs'
// messages and hub-b's log (hb).
func waitMailboxOrgDone(t *testing.T, dir, cfgA, cfgB string, hb *daemon, d time.Duration, full func(n int) bool) {
	t.Helper()
	p := &shadowPair{}
	deadline := time.Now().Add(d)
	for {
		files, _ := filepath.Glob(filepath.Join(bobMailbox(dir), "*"))
		qa, qb := p.queued(t, cfgA), p.queued(t, cfgB)
		if full(len(files)) && len(qa) == 0 && len(qb) == 0 {
			return
		}
		if time.Now().After(deadline) {
			outA, _ := cli(t, cfgA, "message", "list")
			outB, _ := cli(t, cfgB, "message", "list")
			hb.dumpLog()
			t.Fatalf("mailbox %d, queues at A %v, at B %v\nA:\n%s\nB:\n%s", len(files), qa, qb, outA, outB)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// bLosesDatabase kills hub-b (b) of the pair, removes its database and
// starts the sink and hub-b again: hub-a (a) learns hub-b's new database
// and resubmits its shadow copies, and every acknowledged message
// arrives. A hub-a whose log does not say so fails the test with
// notResubmitted.
func (p *shadowPair) bLosesDatabase(t *testing.T, a, b *daemon, acked []string, notResubmitted string) {
	t.Helper()
	b.kill()
	os.RemoveAll(p.dataB)
	sink := startRecorder(t, p.sink)
	startUmbra(t, p.cfgB, p.b)
	waitArrived(t, sink, acked, a)
	log, _ := os.ReadFile(a.log)
	if !strings.Contains(string(log), "new transport database") {
		a.dumpLog()
		t.Fatal(notResubmitted)
	}
}

// start runs hub-b, then hub-a (the holder first: hub-a's first copy on
// receipt finds it); each one's log is shown if the test fails.
func (o *receiptHubs) start(t *testing.T) (ha, hb *daemon) {
	t.Helper()
	hb = startUmbra(t, o.cfgB, o.b)
	ha = startUmbra(t, o.cfgA, o.a)
	hb.dumpLogIfFailed()
	ha.dumpLogIfFailed()
	return ha, hb
}

// sendCopied sends body from a@example.org to b@remote.example through
// hub-a and fails the test unless the 250 names the shadow copy on
// hub-b.
func (o *receiptHubs) sendCopied(t *testing.T, body string) {
	t.Helper()
	if reply := rawSend(t, o.a, "a@example.org", []string{"b@remote.example"}, body); !strings.HasPrefix(reply, "250") ||
		!strings.Contains(reply, "shadow copy on hub-b") {
		t.Fatalf("reply %q: want a 250 naming the shadow copy on hub-b", reply)
	}
}

// originBack is hub-a (site s1, beside hub-c, which never runs) making
// copies on receipt on hub-b (site s2); mail leaves only from s1, through
// the smart host sinkAddr, down until the test starts a recorder there.
// Each hub dials from the address it listens on.
type originBack struct {
	a, sinkAddr       string
	cfgA, cfgB, dataA string
	ha, hb            *daemon
	p                 *shadowPair
	subjects          []string
}

// startOriginBack writes the two hubs (hub-b's configuration passed
// through editB), starts hub-b, then hub-a, at a and b (c is hub-c's),
// sends n messages through hub-a with the subjects prefix-0 … (each
// acknowledged naming its copy on hub-b) and waits until hub-b holds
// their copies.
func startOriginBack(t *testing.T, a, b, c string, editB func(string) string, prefix string, n int) *originBack {
	t.Helper()
	dir := t.TempDir()
	o := &originBack{a: a, sinkAddr: reserveAddr(t, "127.0.0.1"), p: &shadowPair{}}
	topo := fmt.Sprintf(`sites: [{name: s1}, {name: s2}]
site_links:
  - {name: s1-s2, sites: [s1, s2], cost: 10}
servers:
  - {name: hub-a, role: hub, site: s1, address: %q}
  - {name: hub-c, role: hub, site: s1, address: %q}
  - {name: hub-b, role: hub, site: s2, address: %q}
send_connectors:
  - {name: out, address_spaces: [{domain: "*", cost: 1}], source_servers: [hub-a, hub-c], smart_hosts: [%q]}
`, a, c, b, o.sinkAddr)
	topoPath := filepath.Join(dir, "topology.yaml")
	if err := os.WriteFile(topoPath, []byte(topo), 0o600); err != nil {
		t.Fatal(err)
	}
	o.cfgA, o.dataA = orgHub(t, dir, "hub-a", a, topoPath, shadowOnReceipt("remote-only", false), "")
	o.cfgB, _ = orgHub(t, dir, "hub-b", b, topoPath, "0s", "")
	for _, h := range []struct {
		cfg, addr string
		edit      func(string) string
	}{{o.cfgA, a, nil}, {o.cfgB, b, editB}} {
		ip, _, _ := net.SplitHostPort(h.addr)
		data, _ := os.ReadFile(h.cfg)
		s := strings.Replace(string(data), `metrics_listen: ""}`, `metrics_listen: "", source_address: `+ip+`}`, 1)
		if h.edit != nil {
			s = h.edit(s)
		}
		os.WriteFile(h.cfg, []byte(s), 0o600)
	}
	o.hb = startUmbra(t, o.cfgB, b)
	o.hb.dumpLogIfFailed()
	o.ha = startUmbra(t, o.cfgA, a)
	o.subjects = sendCopiesOnB(t, o.p, a, o.cfgB, prefix, n)
	return o
}

// backWithNewDatabase starts hub-a (killed) again on an empty data
// directory, its originals gone, and the smart host's recorder; it
// fails the test unless every message is delivered through hub-a, once.
func (o *originBack) backWithNewDatabase(t *testing.T) {
	t.Helper()
	os.RemoveAll(o.dataA) // hub-a comes back with a new database: the originals are gone
	sink := startRecorder(t, o.sinkAddr)
	o.ha = startUmbra(t, o.cfgA, o.a)
	o.ha.dumpLogIfFailed()
	waitCond(t, "every message delivered through hub-a", 60*time.Second, func() bool {
		for _, s := range o.subjects {
			if sink.counts()[s] == 0 {
				return false
			}
		}
		return true
	})
	time.Sleep(2 * time.Second)
	for _, s := range o.subjects {
		if k := sink.counts()[s]; k != 1 {
			t.Errorf("%s delivered %d times; want once", s, k)
		}
	}
}
